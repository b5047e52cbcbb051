// API DTOs with System.Text.Json: serialising and deserialising typed records, dictionaries,
// time spans and dates, and reading a large document with JsonDocument.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace JsonDtos
{
    public class Customer
    {
        public int Id { get; set; }
        public string Name { get; set; }
        public decimal CreditLimit { get; set; }
        public DateTimeOffset Since { get; set; }
        public TimeSpan PaymentTerms { get; set; }
        public List<string> Tags { get; set; }
        public Dictionary<string, int> Counters { get; set; }
    }

    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static int Main()
        {
            var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
            var c = new Customer
            {
                Id = 7, Name = "Åke \"Ace\" <Ltd>", CreditLimit = 12500.75m,
                Since = new DateTimeOffset(2019, 6, 30, 23, 59, 59, TimeSpan.FromHours(2)),
                PaymentTerms = TimeSpan.FromDays(30), Tags = new List<string> { "gold", "emea" },
                Counters = new Dictionary<string, int> { { "orders", 12 }, { "returns", 1 } },
            };
            string json = JsonSerializer.Serialize(c, options);
            Console.WriteLine("serialized: " + json);
            var back = JsonSerializer.Deserialize<Customer>(json, options);
            Console.WriteLine("name=" + back.Name + " limit=" + back.CreditLimit.ToString(CultureInfo.InvariantCulture) + " since=" + back.Since.ToString("o", CultureInfo.InvariantCulture));
            Console.WriteLine("payment terms after round trip: " + back.PaymentTerms);
            Check(back.Name == c.Name && back.CreditLimit == c.CreditLimit && back.Since == c.Since, "customer round trip");

            try
            {
                var byId = new Dictionary<int, string> { { 1, "one" }, { 2, "two" } };
                Console.WriteLine("int-keyed dictionary: " + JsonSerializer.Serialize(byId));
            }
            catch (NotSupportedException e) { Console.WriteLine("int-keyed dictionary: NotSupportedException"); GC.KeepAlive(e); }

            try
            {
                JsonSerializer.Deserialize<Customer>("{\"id\":\"7\"}", options);
                Console.WriteLine("string for int: accepted");
            }
            catch (JsonException e) { Console.WriteLine("string for int: JsonException at " + e.Path); }

            var big = new StringBuilder("{\"invoices\":[");
            for (int i = 0; i < 20000; i++)
            {
                if (i > 0) big.Append(',');
                big.Append("{\"no\":").Append(i).Append(",\"amount\":").Append((i % 997) * 1.25m).Append(",\"currency\":\"").Append(i % 3 == 0 ? "EUR" : "USD").Append("\"}");
            }
            big.Append("]}");
            using (var doc = JsonDocument.Parse(big.ToString()))
            {
                decimal eur = 0m; int count = 0;
                foreach (var inv in doc.RootElement.GetProperty("invoices").EnumerateArray())
                {
                    count++;
                    if (inv.GetProperty("currency").GetString() == "EUR") eur += inv.GetProperty("amount").GetDecimal();
                }
                Console.WriteLine("large document: bytes=" + Encoding.UTF8.GetByteCount(big.ToString()) + " invoices=" + count + " eur=" + eur.ToString(CultureInfo.InvariantCulture));
                Check(count == 20000, "all invoices read");
            }
            try
            {
                var deep = new string('[', 100) + new string(']', 100);
                JsonDocument.Parse(deep).Dispose();
                Console.WriteLine("depth 100: accepted");
            }
            catch (JsonException) { Console.WriteLine("depth 100: rejected (max depth 64)"); }
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
