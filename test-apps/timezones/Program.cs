// Scheduling across time zones: IANA and Windows ids, conversions across DST transitions,
// invalid and ambiguous local times, and the date/time formats shown to users.
using System;
using System.Globalization;

namespace TimeZones
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static string Iso(DateTime d)
        {
            return d.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        }

        static TimeZoneInfo Find(string id)
        {
            try { return TimeZoneInfo.FindSystemTimeZoneById(id); }
            catch (TimeZoneNotFoundException) { Console.WriteLine("zone " + id + ": not found"); return null; }
        }

        static int Main()
        {
            var berlin = Find("Europe/Berlin");
            var ny = Find("America/New_York");
            var lordHowe = Find("Australia/Lord_Howe");
            Check(berlin != null && ny != null && lordHowe != null, "IANA zones exist");

            var springGap = new DateTime(2021, 3, 28, 2, 30, 0);
            var fallBack = new DateTime(2021, 10, 31, 2, 30, 0);
            Console.WriteLine("Berlin 2021-03-28T02:30 invalid=" + berlin.IsInvalidTime(springGap));
            Console.WriteLine("Berlin 2021-10-31T02:30 ambiguous=" + berlin.IsAmbiguousTime(fallBack) + " offsets=" + string.Join(",", Array.ConvertAll(berlin.GetAmbiguousTimeOffsets(fallBack), o => o.ToString())));
            foreach (int h in new[] { 0, 1, 2 })
            {
                var utc = new DateTime(2021, 10, 31, h, 0, 0, DateTimeKind.Utc);
                Console.WriteLine("UTC " + Iso(utc) + " -> Berlin " + Iso(TimeZoneInfo.ConvertTimeFromUtc(utc, berlin)) + " dst=" + berlin.IsDaylightSavingTime(utc) + " -> New York " + Iso(TimeZoneInfo.ConvertTimeFromUtc(utc, ny)));
            }
            var lh = TimeZoneInfo.ConvertTimeFromUtc(new DateTime(2022, 1, 15, 12, 0, 0, DateTimeKind.Utc), lordHowe);
            Console.WriteLine("Lord Howe summer offset=" + lordHowe.GetUtcOffset(lh) + " local=" + Iso(lh));
            var meeting = new DateTime(2021, 11, 5, 9, 0, 0);
            var inNy = TimeZoneInfo.ConvertTime(meeting, berlin, ny);
            Console.WriteLine("meeting 09:00 Berlin on 2021-11-05 = " + Iso(inNy) + " New York");
            Check(inNy.Hour == 4, "the week between the two DST switches is a 5 hour gap, not 6");

            foreach (var id in new[] { "W. Europe Standard Time", "Eastern Standard Time", "Tokyo Standard Time" })
            {
                var z = Find(id);
                if (z != null) Console.WriteLine("windows id " + id + " -> " + z.Id + " base offset " + z.BaseUtcOffset);
            }
            Console.WriteLine("Berlin display name: " + berlin.DisplayName);
            Console.WriteLine("Berlin standard name: " + berlin.StandardName + " / daylight name: " + berlin.DaylightName);

            var when = new DateTime(2024, 2, 29, 13, 5, 9);
            foreach (var name in new[] { "en-US", "en-GB", "de-DE", "ja-JP", "ar-SA" })
            {
                var c = CultureInfo.GetCultureInfo(name);
                Console.WriteLine(string.Format("{0,-6} short={1} | long={2} | time={3}", name, when.ToString("d", c), when.ToString("D", c), when.ToString("t", c)));
            }
            var parsed = DateTimeOffset.Parse("2024-02-29T13:05:09+05:30", CultureInfo.InvariantCulture);
            Console.WriteLine("parsed offset=" + parsed.Offset + " utc=" + Iso(parsed.UtcDateTime));
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
