// Invoicing: line totals, VAT and discounts with decimal rounding, printed as currency in the
// cultures our customers bill in. Exits 1 when its own arithmetic checks fail.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Invoicing
{
    class Line
    {
        public string Sku;
        public decimal Quantity;
        public decimal UnitPrice;
        public decimal DiscountPercent;
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
            var lines = new List<Line>
            {
                new Line { Sku = "WIDGET-1", Quantity = 3m, UnitPrice = 19.995m, DiscountPercent = 0m },
                new Line { Sku = "GADGET-7", Quantity = 1.5m, UnitPrice = 1234.5678m, DiscountPercent = 12.5m },
                new Line { Sku = "SERVICE-H", Quantity = 7.25m, UnitPrice = 85m, DiscountPercent = 3m },
                new Line { Sku = "ROUNDING", Quantity = 1m, UnitPrice = 0.125m, DiscountPercent = 0m },
            };
            decimal net = 0m;
            foreach (var l in lines)
            {
                decimal gross = l.Quantity * l.UnitPrice;
                decimal discount = Math.Round(gross * l.DiscountPercent / 100m, 2, MidpointRounding.AwayFromZero);
                decimal total = Math.Round(gross - discount, 2, MidpointRounding.AwayFromZero);
                decimal banker = Math.Round(gross - discount, 2, MidpointRounding.ToEven);
                net += total;
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "{0,-10} qty={1} unit={2} gross={3} discount={4} total={5} bankers={6}",
                    l.Sku, l.Quantity, l.UnitPrice, gross, discount, total, banker));
            }
            decimal vat = Math.Round(net * 0.19m, 2, MidpointRounding.AwayFromZero);
            decimal grand = net + vat;
            Console.WriteLine("net=" + net.ToString(CultureInfo.InvariantCulture) + " vat=" + vat.ToString(CultureInfo.InvariantCulture) + " grand=" + grand.ToString(CultureInfo.InvariantCulture));
            Check(net == lines.Sum(l => Math.Round(l.Quantity * l.UnitPrice - Math.Round(l.Quantity * l.UnitPrice * l.DiscountPercent / 100m, 2, MidpointRounding.AwayFromZero), 2, MidpointRounding.AwayFromZero)), "net equals sum of line totals");
            Check(Math.Round(2.345m, 2) == 2.34m, "default decimal rounding is banker's rounding");
            Check(decimal.Divide(1m, 3m) * 3m != 1m, "decimal keeps 28 digits (1/3*3 is not 1)");

            foreach (var name in new[] { "en-US", "en-GB", "de-DE", "de-CH", "fr-FR", "ja-JP", "sv-SE", "pt-BR", "hi-IN" })
            {
                var c = CultureInfo.GetCultureInfo(name);
                Console.WriteLine(string.Format("{0,-6} {1} | {2} | {3} | {4}", name,
                    grand.ToString("C", c), (-vat).ToString("C", c), 1234567.891m.ToString("N2", c),
                    decimal.Parse(1234.5m.ToString("N2", c), NumberStyles.Number, c).ToString(CultureInfo.InvariantCulture)));
            }
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
