// Report generation from XML: XmlDocument edits, XPath queries, an XSLT stylesheet turning orders
// into an HTML report, and XmlSerializer round trips of the order DTOs.
using System;
using System.Globalization;
using System.IO;
using System.Text;
using System.Xml;
using System.Xml.Serialization;
using System.Xml.XPath;
using System.Xml.Xsl;

namespace XmlReports
{
    public class OrderLine
    {
        [XmlAttribute("sku")] public string Sku;
        [XmlAttribute("qty")] public int Quantity;
        [XmlElement("price")] public decimal Price;
    }

    [XmlRoot("order")]
    public class Order
    {
        [XmlAttribute("id")] public int Id;
        [XmlElement("customer")] public string Customer;
        [XmlElement("placed")] public DateTime Placed;
        [XmlArray("lines"), XmlArrayItem("line")] public OrderLine[] Lines;
        [XmlIgnore] public string Internal;
    }

    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        const string Orders = "<orders region=\"EMEA\">" +
            "<order id=\"1\" status=\"open\"><customer>Contoso &amp; Co</customer><total>120.50</total></order>" +
            "<order id=\"2\" status=\"shipped\"><customer>Fabrikam</customer><total>80.00</total></order>" +
            "<order id=\"3\" status=\"open\"><customer>Northwind</customer><total>9.99</total></order>" +
            "</orders>";

        const string Stylesheet = "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">" +
            "<xsl:output method=\"html\" indent=\"no\"/>" +
            "<xsl:template match=\"/orders\"><table><xsl:for-each select=\"order[@status='open']\"><xsl:sort select=\"total\" data-type=\"number\" order=\"descending\"/>" +
            "<tr><td><xsl:value-of select=\"@id\"/></td><td><xsl:value-of select=\"customer\"/></td><td><xsl:value-of select=\"format-number(total, '#,##0.00')\"/></td></tr>" +
            "</xsl:for-each></table><p>open total: <xsl:value-of select=\"sum(order[@status='open']/total)\"/></p></xsl:template></xsl:stylesheet>";

        static int Main()
        {
            var doc = new XmlDocument();
            doc.LoadXml(Orders);
            var open = doc.SelectNodes("/orders/order[@status='open']/customer");
            foreach (XmlNode n in open) Console.WriteLine("open: " + n.InnerText);
            var nav = doc.CreateNavigator();
            Console.WriteLine("sum of totals: " + ((double)nav.Evaluate("sum(/orders/order/total)")).ToString(CultureInfo.InvariantCulture));
            Console.WriteLine("count shipped: " + nav.Evaluate("count(//order[@status='shipped'])"));
            var added = doc.CreateElement("order");
            added.SetAttribute("id", "4");
            added.SetAttribute("status", "open");
            added.InnerXml = "<customer>Tailspin &lt;Toys&gt;</customer><total>45.00</total>";
            doc.DocumentElement.AppendChild(added);
            Console.WriteLine("document: " + doc.OuterXml);

            var xslt = new XslCompiledTransform();
            xslt.Load(XmlReader.Create(new StringReader(Stylesheet)));
            var html = new StringWriter();
            xslt.Transform(doc, null, html);
            Console.WriteLine("xslt: " + html);

            var order = new Order
            {
                Id = 42, Customer = "Müller GmbH", Placed = new DateTime(2024, 5, 17, 8, 30, 0, DateTimeKind.Utc), Internal = "x",
                Lines = new[] { new OrderLine { Sku = "A-1", Quantity = 2, Price = 10.5m }, new OrderLine { Sku = "B-2", Quantity = 1, Price = 99.99m } },
            };
            var ser = new XmlSerializer(typeof(Order));
            var ns = new XmlSerializerNamespaces();
            ns.Add("", "");
            var sw = new StringWriter();
            using (var w = XmlWriter.Create(sw, new XmlWriterSettings { OmitXmlDeclaration = true }))
                ser.Serialize(w, order, ns);
            Console.WriteLine("serialized: " + sw);
            var back = (Order)ser.Deserialize(new StringReader(sw.ToString()));
            Check(back.Lines.Length == 2 && back.Lines[1].Price == 99.99m && back.Customer == order.Customer && back.Internal == null, "XmlSerializer round trip");
            Check(back.Placed == order.Placed, "date round trip");

            var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit };
            try
            {
                XmlReader.Create(new StringReader("<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>"), settings).Read();
                Console.WriteLine("DTD accepted");
            }
            catch (XmlException) { Console.WriteLine("DTD rejected"); }
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
