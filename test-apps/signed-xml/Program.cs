// Signed and encrypted XML documents exchanged with partners (e-invoicing, SAML-like tokens):
// an enveloped XML-DSig signature with RSA-SHA256, tamper detection, and EncryptedXml with AES.
using System;
using System.Security.Cryptography;
using System.Security.Cryptography.Xml;
using System.Xml;

namespace SignedXmlApp
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static int Main()
        {
            var doc = new XmlDocument { PreserveWhitespace = true };
            doc.LoadXml("<Invoice xmlns=\"urn:einvoice\"><Number>2024-0001</Number><Total currency=\"EUR\">1234.50</Total><Iban>DE89370400440532013000</Iban></Invoice>");
            using (var rsa = RSA.Create())
            {
                rsa.KeySize = 2048;
                var signed = new SignedXml(doc) { SigningKey = rsa };
                signed.SignedInfo.SignatureMethod = SignedXml.XmlDsigRSASHA256Url;
                var reference = new Reference("") { DigestMethod = SignedXml.XmlDsigSHA256Url };
                reference.AddTransform(new XmlDsigEnvelopedSignatureTransform());
                reference.AddTransform(new XmlDsigExcC14NTransform());
                signed.AddReference(reference);
                signed.ComputeSignature();
                doc.DocumentElement.AppendChild(doc.ImportNode(signed.GetXml(), true));
                Console.WriteLine("digest value: " + doc.GetElementsByTagName("DigestValue", SignedXml.XmlDsigNamespaceUrl)[0].InnerText);

                Console.WriteLine("signature valid: " + Verify(doc, rsa));
                doc.GetElementsByTagName("Total")[0].InnerText = "1.00";
                bool tampered = Verify(doc, rsa);
                Console.WriteLine("after tampering valid: " + tampered);
                Check(!tampered, "tampering detected");
            }

            var secretDoc = new XmlDocument();
            secretDoc.LoadXml("<Payment><Iban>DE89370400440532013000</Iban><Amount>1234.50</Amount></Payment>");
            using (var aes = Aes.Create())
            {
                var element = (XmlElement)secretDoc.GetElementsByTagName("Iban")[0];
                var exml = new EncryptedXml();
                byte[] cipher = exml.EncryptData(element, aes, false);
                var ed = new EncryptedData { Type = EncryptedXml.XmlEncElementUrl, EncryptionMethod = new EncryptionMethod(EncryptedXml.XmlEncAES256Url), CipherData = new CipherData(cipher) };
                EncryptedXml.ReplaceElement(element, ed, false);
                Console.WriteLine("encrypted contains iban: " + secretDoc.OuterXml.Contains("DE8937"));
                var back = new EncryptedXml();
                var encrypted = (XmlElement)secretDoc.GetElementsByTagName("EncryptedData")[0];
                var data = new EncryptedData();
                data.LoadXml(encrypted);
                back.ReplaceData(encrypted, back.DecryptData(data, aes));
                Console.WriteLine("decrypted: " + secretDoc.OuterXml);
            }
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }

        static bool Verify(XmlDocument doc, RSA key)
        {
            var check = new SignedXml(doc);
            check.LoadXml((XmlElement)doc.GetElementsByTagName("Signature", SignedXml.XmlDsigNamespaceUrl)[0]);
            return check.CheckSignature(key);
        }
    }
}
