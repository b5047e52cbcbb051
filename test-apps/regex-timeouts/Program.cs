// Input validation with regular expressions: typical patterns, a match timeout protecting the
// server from catastrophic backtracking, culture-insensitive options and replacements.
using System;
using System.Linq;
using System.Text.RegularExpressions;

namespace RegexTimeouts
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
            var email = new Regex(@"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(2));
            foreach (var s in new[] { "a@b.de", "bad@", "x y@z.com", "ÄÖÜ@umlaut.info" })
                Console.WriteLine("email " + s + " -> " + email.IsMatch(s));
            var iban = new Regex(@"^(?<country>[A-Z]{2})(?<check>\d{2})(?<bban>[A-Z0-9]{11,30})$");
            var m = iban.Match("DE89370400440532013000");
            Console.WriteLine("iban country=" + m.Groups["country"].Value + " check=" + m.Groups["check"].Value + " bban=" + m.Groups["bban"].Value);
            Console.WriteLine("replace: " + Regex.Replace("2024-05-17, 2023-12-01", @"(\d{4})-(\d{2})-(\d{2})", "$3.$2.$1"));
            Console.WriteLine("split: " + string.Join("|", Regex.Split("a1b22c333d", @"\d+")));
            Console.WriteLine("matches: " + string.Join(",", Regex.Matches("INV-001 INV-020 inv-300", @"INV-(\d+)", RegexOptions.IgnoreCase).Cast<Match>().Select(x => x.Groups[1].Value)));
            Console.WriteLine("turkish i ignore-case invariant: " + Regex.IsMatch("I", "i", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant));

            var evil = new Regex(@"^(a+)+$", RegexOptions.None, TimeSpan.FromMilliseconds(200));
            string attack = new string('a', 40) + "!";
            try
            {
                Console.WriteLine("catastrophic pattern result: " + evil.IsMatch(attack));
                failures++;
            }
            catch (RegexMatchTimeoutException e)
            {
                Console.WriteLine("catastrophic pattern: timed out after " + e.MatchTimeout.TotalMilliseconds + " ms");
            }
            try
            {
                new Regex("(unclosed");
                Console.WriteLine("invalid pattern accepted");
            }
            catch (ArgumentException) { Console.WriteLine("invalid pattern rejected"); }
            Check(Regex.Escape("a.b*c") == @"a\.b\*c", "escape");
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
