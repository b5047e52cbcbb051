// Document archives: building a zip with fixed timestamps, reading it back, gzip streams, and
// refusing hostile entry names (path traversal, absolute paths) when extracting.
using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;

namespace ZipArchives
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static byte[] BuildZip(string[] names)
        {
            var ms = new MemoryStream();
            using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, true))
            {
                foreach (var name in names)
                {
                    var e = zip.CreateEntry(name, CompressionLevel.Optimal);
                    e.LastWriteTime = new DateTimeOffset(2024, 1, 2, 3, 4, 6, TimeSpan.Zero);
                    using (var w = new StreamWriter(e.Open(), new UTF8Encoding(false))) w.Write("content of " + name + "\n" + string.Concat(Enumerable.Repeat("lorem ipsum ", 50)));
                }
            }
            return ms.ToArray();
        }

        static void SafeExtract(byte[] zipBytes, string target)
        {
            string root = Path.GetFullPath(target) + Path.DirectorySeparatorChar;
            using (var zip = new ZipArchive(new MemoryStream(zipBytes), ZipArchiveMode.Read))
            {
                foreach (var e in zip.Entries)
                {
                    string dest = Path.GetFullPath(Path.Combine(root, e.FullName));
                    if (!dest.StartsWith(root, StringComparison.Ordinal))
                    {
                        Console.WriteLine("refused entry " + e.FullName);
                        continue;
                    }
                    Directory.CreateDirectory(Path.GetDirectoryName(dest));
                    e.ExtractToFile(dest, true);
                    Console.WriteLine("extracted " + e.FullName + " (" + new FileInfo(dest).Length + " bytes)");
                }
            }
        }

        static int Main()
        {
            byte[] zip = BuildZip(new[] { "invoices/2024/01.txt", "invoices/2024/02.txt", "readme.txt" });
            using (var read = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
            {
                foreach (var e in read.Entries)
                {
                    string text;
                    using (var r = new StreamReader(e.Open())) text = r.ReadToEnd();
                    Console.WriteLine("entry " + e.FullName + " length=" + e.Length + " time=" + e.LastWriteTime.ToString("u") + " first line=" + text.Split('\n')[0]);
                    Check(e.CompressedLength < e.Length, "compresses " + e.FullName);
                }
            }
            string work = Path.Combine(Path.GetTempPath(), "zip-archives-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(work);
            try
            {
                byte[] hostile = BuildZip(new[] { "ok.txt", "../escape.txt", "sub/../../escape2.txt", "/etc/evil.txt", "sub/fine.txt" });
                SafeExtract(hostile, Path.Combine(work, "out"));
                Check(!File.Exists(Path.Combine(work, "escape.txt")), "no file written outside the target");
                try
                {
                    ZipFile.ExtractToDirectory(WriteTemp(work, hostile), Path.Combine(work, "framework"));
                    Console.WriteLine("ZipFile.ExtractToDirectory: extracted hostile archive");
                }
                catch (IOException e) { Console.WriteLine("ZipFile.ExtractToDirectory: " + e.GetType().Name); }
                Check(!File.Exists(Path.Combine(work, "escape.txt")), "framework extraction stays inside");
            }
            finally { Directory.Delete(work, true); }

            byte[] payload = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("2024-01-02;INV-1;100.00\n", 1000)));
            var gz = new MemoryStream();
            using (var g = new GZipStream(gz, CompressionLevel.Optimal, true)) g.Write(payload, 0, payload.Length);
            gz.Position = 0;
            var unz = new MemoryStream();
            using (var g = new GZipStream(gz, CompressionMode.Decompress)) g.CopyTo(unz);
            Console.WriteLine("gzip round trip: " + payload.Length + " bytes, equal=" + unz.ToArray().SequenceEqual(payload));
            try
            {
                using (var g = new GZipStream(new MemoryStream(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }), CompressionMode.Decompress)) g.CopyTo(new MemoryStream());
                Console.WriteLine("corrupt gzip: accepted");
            }
            catch (InvalidDataException) { Console.WriteLine("corrupt gzip: InvalidDataException"); }
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }

        static string WriteTemp(string dir, byte[] bytes)
        {
            string p = Path.Combine(dir, "hostile.zip");
            File.WriteAllBytes(p, bytes);
            return p;
        }
    }
}
