// DataSet/DataTable the way line-of-business apps used them for offline data: typed columns,
// relations, computed columns, filtering, and XML round trips with and without a schema.
using System;
using System.Data;
using System.Globalization;
using System.IO;
using System.Linq;

namespace DataSetXml
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
            var ds = new DataSet("Shop");
            var customers = ds.Tables.Add("Customer");
            customers.Columns.Add("Id", typeof(int));
            customers.Columns.Add("Name", typeof(string));
            customers.PrimaryKey = new[] { customers.Columns["Id"] };
            var orders = ds.Tables.Add("Order");
            orders.Columns.Add("Id", typeof(int));
            orders.Columns.Add("CustomerId", typeof(int));
            orders.Columns.Add("Amount", typeof(decimal));
            orders.Columns.Add("Placed", typeof(DateTime)).DateTimeMode = DataSetDateTime.Utc;
            orders.Columns.Add("WithVat", typeof(decimal), "Amount * 1.19");
            ds.Relations.Add("CustomerOrders", customers.Columns["Id"], orders.Columns["CustomerId"]);

            customers.Rows.Add(1, "Contoso");
            customers.Rows.Add(2, "Fabrikam & Söhne");
            orders.Rows.Add(10, 1, 100.00m, new DateTime(2024, 1, 31, 23, 0, 0, DateTimeKind.Utc));
            orders.Rows.Add(11, 1, 250.50m, new DateTime(2024, 2, 1, 0, 0, 0, DateTimeKind.Utc));
            orders.Rows.Add(12, 2, 19.99m, new DateTime(2024, 2, 29, 12, 0, 0, DateTimeKind.Utc));
            ds.AcceptChanges();

            foreach (DataRow c in customers.Rows)
            {
                var mine = c.GetChildRows("CustomerOrders");
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}: {1} orders, sum {2}, with VAT {3}", c["Name"], mine.Length, mine.Sum(o => (decimal)o["Amount"]), mine.Sum(o => (decimal)o["WithVat"])));
            }
            var big = orders.Select("Amount > 50", "Amount DESC");
            Console.WriteLine("orders over 50: " + string.Join(",", big.Select(r => r["Id"].ToString())));
            Console.WriteLine("compute sum: " + Convert.ToString(orders.Compute("SUM(Amount)", "CustomerId = 1"), CultureInfo.InvariantCulture));

            orders.Rows[0]["Amount"] = 101.00m;
            orders.Rows.Add(13, 2, 5m, new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc));
            var diff = new StringWriter();
            ds.WriteXml(diff, XmlWriteMode.DiffGram);
            Console.WriteLine("diffgram rows modified: " + ds.GetChanges(DataRowState.Modified).Tables["Order"].Rows.Count + " added: " + ds.GetChanges(DataRowState.Added).Tables["Order"].Rows.Count);

            var withSchema = new StringWriter();
            ds.WriteXml(withSchema, XmlWriteMode.WriteSchema);
            var copy = new DataSet();
            copy.ReadXml(new StringReader(withSchema.ToString()), XmlReadMode.ReadSchema);
            Console.WriteLine("round trip tables: " + string.Join(",", copy.Tables.Cast<DataTable>().Select(t => t.TableName + "(" + t.Rows.Count + ")")));
            Console.WriteLine("round trip column types: " + string.Join(",", copy.Tables["Order"].Columns.Cast<DataColumn>().Select(c => c.ColumnName + ":" + c.DataType.Name)));
            Check(copy.Tables["Order"].Rows.Count == 4, "four orders after round trip");
            Check((decimal)copy.Tables["Order"].Rows[0]["Amount"] == 101.00m, "modified amount survives");

            var plain = new StringWriter();
            customers.WriteXml(plain);
            Console.WriteLine("customers xml: " + plain.ToString().Replace("\r", "").Replace("\n", "").Replace("  ", ""));
            var inferred = new DataSet();
            inferred.ReadXml(new StringReader(plain.ToString()), XmlReadMode.InferSchema);
            Console.WriteLine("inferred: " + string.Join(",", inferred.Tables[0].Columns.Cast<DataColumn>().Select(c => c.ColumnName + ":" + c.DataType.Name)));
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
