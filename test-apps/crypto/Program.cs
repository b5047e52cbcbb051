// Security primitives an LOB app uses for tokens, stored secrets and partner certificates:
// SHA-2 hashes, HMAC, AES-CBC with a fixed key, RSA sign/verify and OAEP, PBKDF2 password
// hashes, X.509 certificate parsing and a hand-written ASN.1 DER walk.
using System;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Crypto
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static string Hex(byte[] b)
        {
            return BitConverter.ToString(b).Replace("-", "").ToLowerInvariant();
        }

        const string CertBase64 = "MIIByjCCAW+gAwIBAgICEjQwCgYIKoZIzj0EAwIwQzEeMBwGA1UEAwwVaW52b2ljZXMuZXhhbXBsZS50ZXN0MRQwEgYDVQQKDAtDb250b3NvIEx0ZDELMAkGA1UEBhMCREUwHhcNMjYxMTI4MDkzNzI4WhcNMzYxMTI1MDkzNzI4WjBDMR4wHAYDVQQDDBVpbnZvaWNlcy5leGFtcGxlLnRlc3QxFDASBgNVBAoMC0NvbnRvc28gTHRkMQswCQYDVQQGEwJERTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDq9VVW5qSh9UpjvnCLR/1OfJUoehtZ0s5VcL+ymXmj/78m1cAyA1p0RxJfBHdQNL+KLyZARVe+nv6QrAdIleDKjUzBRMB0GA1UdDgQWBBTgfPZn39OP5MVE31BI+EILcC7tazAfBgNVHSMEGDAWgBTgfPZn39OP5MVE31BI+EILcC7tazAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD/uKzfQNXCVlxecZYmJeWPAKdIutGI+FtZymcmKmLgMQIhAMqEGmqCA8QOo+IphJOWgH8QCCXWFk7JBpsi+qxouBFi";

        static int Main()
        {
            byte[] data = Encoding.UTF8.GetBytes("invoice 2024-0001 total 1234.50 EUR");
            using (var sha = SHA256.Create()) Console.WriteLine("sha256 " + Hex(sha.ComputeHash(data)));
            using (var sha = SHA512.Create()) Console.WriteLine("sha512 " + Hex(sha.ComputeHash(data)).Substring(0, 32));
            using (var md5 = MD5.Create()) Console.WriteLine("md5 " + Hex(md5.ComputeHash(data)));
            using (var hmac = new HMACSHA256(Encoding.UTF8.GetBytes("shared-secret"))) Console.WriteLine("hmac-sha256 " + Hex(hmac.ComputeHash(data)));

            byte[] key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
            byte[] iv = Enumerable.Range(100, 16).Select(i => (byte)i).ToArray();
            using (var aes = Aes.Create())
            {
                aes.Key = key; aes.IV = iv; aes.Mode = CipherMode.CBC; aes.Padding = PaddingMode.PKCS7;
                byte[] cipher = aes.CreateEncryptor().TransformFinalBlock(data, 0, data.Length);
                Console.WriteLine("aes-256-cbc " + Hex(cipher));
                byte[] plain = aes.CreateDecryptor().TransformFinalBlock(cipher, 0, cipher.Length);
                Check(plain.SequenceEqual(data), "aes round trip");
                cipher[cipher.Length - 1] ^= 0x55;
                try { aes.CreateDecryptor().TransformFinalBlock(cipher, 0, cipher.Length); Console.WriteLine("tampered ciphertext: decrypted"); }
                catch (CryptographicException) { Console.WriteLine("tampered ciphertext: CryptographicException"); }
            }

            using (var rsa = RSA.Create(2048))
            {
                byte[] sig = rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                Console.WriteLine("rsa signature length " + sig.Length + " verifies=" + rsa.VerifyData(data, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
                data[0] ^= 1;
                Console.WriteLine("rsa tampered verifies=" + rsa.VerifyData(data, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
                data[0] ^= 1;
                byte[] secret = rsa.Encrypt(key, RSAEncryptionPadding.OaepSHA1);
                Check(rsa.Decrypt(secret, RSAEncryptionPadding.OaepSHA1).SequenceEqual(key), "rsa oaep round trip");
            }

            using (var kdf = new Rfc2898DeriveBytes("correct horse battery staple", Encoding.UTF8.GetBytes("per-user-salt"), 10000, HashAlgorithmName.SHA256))
                Console.WriteLine("pbkdf2-sha256 " + Hex(kdf.GetBytes(32)));

            var cert = new X509Certificate2(Convert.FromBase64String(CertBase64));
            Console.WriteLine("cert subject: " + cert.Subject);
            Console.WriteLine("cert issuer: " + cert.Issuer);
            Console.WriteLine("cert serial: " + cert.SerialNumber + " thumbprint: " + cert.Thumbprint);
            Console.WriteLine("cert key algorithm: " + cert.PublicKey.Oid.FriendlyName + " (" + cert.PublicKey.Oid.Value + ") signature: " + cert.SignatureAlgorithm.FriendlyName);
            Console.WriteLine("cert simple name: " + cert.GetNameInfo(X509NameType.SimpleName, false));
            using (var ecdsa = cert.GetECDsaPublicKey()) Console.WriteLine("cert ecdsa key size: " + ecdsa.KeySize);
            Console.WriteLine("asn.1: " + Describe(cert.RawData, 0, 2));
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }

        // A minimal DER reader: tag, length and, for constructed values, the children's tags.
        static string Describe(byte[] der, int at, int depth)
        {
            byte tag = der[at];
            int len = der[at + 1], header = 2;
            if ((len & 0x80) != 0)
            {
                int n = len & 0x7f; len = 0;
                for (int i = 0; i < n; i++) len = (len << 8) | der[at + 2 + i];
                header += n;
            }
            string s = "0x" + tag.ToString("x2") + "[" + len + "]";
            if ((tag & 0x20) == 0 || depth == 0) return s;
            var parts = new System.Collections.Generic.List<string>();
            for (int p = at + header; p < at + header + len;)
            {
                parts.Add(Describe(der, p, depth - 1));
                int l = der[p + 1], h = 2;
                if ((l & 0x80) != 0) { int n = l & 0x7f; l = 0; for (int i = 0; i < n; i++) l = (l << 8) | der[p + 2 + i]; h += n; }
                p += h + l;
            }
            return s + "{" + string.Join(" ", parts) + "}";
        }
    }
}
