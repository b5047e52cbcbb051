// CSV import/export: quoted fields, embedded separators and line breaks, several text encodings
// including legacy Windows code pages, and the culture-sensitive string search that line-splitting
// code written for .NET Framework relies on.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace CsvImport
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static List<string[]> Parse(string text, char sep)
        {
            var rows = new List<string[]>();
            var row = new List<string>();
            var field = new StringBuilder();
            bool quoted = false;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (quoted)
                {
                    if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else if (c == '"') quoted = false;
                    else field.Append(c);
                }
                else if (c == '"') quoted = true;
                else if (c == sep) { row.Add(field.ToString()); field.Clear(); }
                else if (c == '\r') { }
                else if (c == '\n') { row.Add(field.ToString()); field.Clear(); rows.Add(row.ToArray()); row.Clear(); }
                else field.Append(c);
            }
            if (field.Length > 0 || row.Count > 0) { row.Add(field.ToString()); rows.Add(row.ToArray()); }
            return rows;
        }

        static string Quote(string s, char sep)
        {
            return s.IndexOfAny(new[] { sep, '"', '\n', '\r' }) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
        }

        static string Hex(byte[] b)
        {
            return BitConverter.ToString(b).Replace("-", "").ToLowerInvariant();
        }

        static Encoding CodePage(int cp)
        {
            // .NET Core only knows code pages once the provider from System.Text.Encoding.CodePages is
            // registered; .NET Framework had them built in. Legacy apps register it by reflection.
            var t = Type.GetType("System.Text.CodePagesEncodingProvider, System.Text.Encoding.CodePages");
            if (t != null)
                Encoding.RegisterProvider((EncodingProvider)t.GetProperty("Instance").GetValue(null, null));
            return Encoding.GetEncoding(cp);
        }

        static int Main()
        {
            string csv = "id;name;city;amount\r\n1;\"Müller; Söhne\";Köln;1.234,50\r\n2;\"Say \"\"hi\"\"\";Zürich;-7,25\r\n3;\"two\r\nlines\";Århus;0,00\r\n";
            var rows = Parse(csv, ';');
            var de = CultureInfo.GetCultureInfo("de-DE");
            decimal sum = 0m;
            foreach (var r in rows.Skip(1))
            {
                decimal amount = decimal.Parse(r[3], NumberStyles.Number, de);
                sum += amount;
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "row {0}: name=[{1}] city=[{2}] amount={3}", r[0], r[1].Replace("\n", "\\n"), r[2], amount));
            }
            Console.WriteLine("sum=" + sum.ToString(CultureInfo.InvariantCulture));
            Check(rows.Count == 4, "4 rows including header");

            var export = new StringBuilder();
            foreach (var r in rows) export.Append(string.Join(",", r.Select(f => Quote(f, ',')))).Append("\r\n");
            var again = Parse(export.ToString(), ',');
            Check(again.Count == rows.Count && again.Zip(rows, (a, b) => a.SequenceEqual(b)).All(x => x), "export/import round trip");

            var encodings = new List<Encoding> { new UTF8Encoding(true), Encoding.Unicode, Encoding.BigEndianUnicode, Encoding.GetEncoding("iso-8859-1") };
            foreach (int cp in new[] { 1252, 850, 437, 1250 })
            {
                try { encodings.Add(CodePage(cp)); }
                catch (Exception e) { Console.WriteLine("code page " + cp + ": " + e.GetType().Name); }
            }
            string sample = "Müller;Zürich;€ 5;Ωmega";
            foreach (var enc in encodings)
            {
                byte[] bytes = enc.GetPreamble().Concat(enc.GetBytes(sample)).ToArray();
                string back;
                using (var reader = new StreamReader(new MemoryStream(bytes), enc, true)) back = reader.ReadToEnd();
                Console.WriteLine(string.Format("{0,-12} cp={1,-5} bytes={2,-3} {3} -> {4}", enc.WebName, enc.CodePage, bytes.Length, Hex(bytes.Take(12).ToArray()), back));
            }

            // Line splitting the .NET Framework way: culture-sensitive IndexOf.
            string text = "first\r\nsecond\r\nthird";
            Console.WriteLine("IndexOf(\"\\n\") culture=" + text.IndexOf("\n") + " ordinal=" + text.IndexOf("\n", StringComparison.Ordinal));
            Console.WriteLine("lines by culture-sensitive search: " + CountLines(text));
            Console.WriteLine("IndexOf(\"ss\") in Straße de-DE=" + de.CompareInfo.IndexOf("Straße", "ss") + " ordinal=" + "Straße".IndexOf("ss", StringComparison.Ordinal));
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }

        static int CountLines(string text)
        {
            int count = 1, at = 0;
            while (true)
            {
                int i = text.IndexOf("\n", at);
                if (i < 0) return count;
                count++;
                at = i + 1;
            }
        }
    }
}
