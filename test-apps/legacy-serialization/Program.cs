// Legacy persistence from the .NET Framework era: BinaryFormatter snapshots of [Serializable]
// graphs, ISerializable custom data, DataContractSerializer XML, and the binder an app uses to
// refuse unexpected types.
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Formatters.Binary;
using System.Text;
using System.Xml;

namespace LegacySerialization
{
    [Serializable]
    public class Account
    {
        public string Number;
        public decimal Balance;
        public List<string> History = new List<string>();
        public Account Parent;
        [NonSerialized] public string Cache = "transient";
    }

    [Serializable]
    public class Money : ISerializable
    {
        public decimal Amount;
        public string Currency;
        public Money() { }
        protected Money(SerializationInfo info, StreamingContext ctx)
        {
            Amount = info.GetDecimal("amt");
            Currency = info.GetString("cur");
        }
        public void GetObjectData(SerializationInfo info, StreamingContext ctx)
        {
            info.AddValue("amt", Amount);
            info.AddValue("cur", Currency);
        }
    }

    [DataContract(Namespace = "urn:shop")]
    public class Invoice
    {
        [DataMember(Order = 1)] public int Number { get; set; }
        [DataMember(Order = 2)] public string Customer { get; set; }
        [DataMember(Order = 3)] public DateTime Date { get; set; }
        [DataMember(Order = 4)] public decimal Total { get; set; }
    }

    sealed class AllowListBinder : SerializationBinder
    {
        public override Type BindToType(string assemblyName, string typeName)
        {
            if (typeName.StartsWith("LegacySerialization.", StringComparison.Ordinal) || typeName.StartsWith("System.Collections.Generic.List", StringComparison.Ordinal))
                return Type.GetType(typeName + ", " + assemblyName);
            throw new SerializationException("type not allowed: " + typeName);
        }
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
            var parent = new Account { Number = "DE-0001", Balance = 1000m };
            var child = new Account { Number = "DE-0002", Balance = -12.34m, Parent = parent };
            child.History.Add("opened");
            child.History.Add("overdrawn");
            try
            {
#pragma warning disable 618
                var bf = new BinaryFormatter();
                var ms = new MemoryStream();
                bf.Serialize(ms, new object[] { child, new Money { Amount = 9.99m, Currency = "EUR" } });
                ms.Position = 0;
                var reader = new BinaryFormatter { Binder = new AllowListBinder() };
                var graph = (object[])reader.Deserialize(ms);
                var a = (Account)graph[0];
                var money = (Money)graph[1];
                Console.WriteLine("binary: " + a.Number + " balance=" + a.Balance + " history=" + string.Join("/", a.History) + " parent=" + a.Parent.Number + " cache=" + (a.Cache ?? "null"));
                Console.WriteLine("binary money: " + money.Amount + " " + money.Currency);
                Check(a.Parent.Balance == 1000m, "object graph restored");
                try
                {
                    var evil = new MemoryStream();
                    bf.Serialize(evil, new Uri("http://example.invalid/"));
                    evil.Position = 0;
                    reader.Deserialize(evil);
                    Console.WriteLine("binder: accepted System.Uri");
                }
                catch (SerializationException e) { Console.WriteLine("binder: " + e.Message); }
#pragma warning restore 618
            }
            catch (NotSupportedException) { Console.WriteLine("binary: BinaryFormatter is disabled on this runtime"); }

            var inv = new Invoice { Number = 1001, Customer = "Contoso & Co", Date = new DateTime(2024, 3, 31, 0, 0, 0, DateTimeKind.Utc), Total = 1234.50m };
            var dcs = new DataContractSerializer(typeof(Invoice));
            var sb = new StringBuilder();
            using (var w = XmlWriter.Create(sb, new XmlWriterSettings { OmitXmlDeclaration = true })) dcs.WriteObject(w, inv);
            Console.WriteLine("datacontract: " + sb);
            Invoice back;
            using (var r = XmlReader.Create(new StringReader(sb.ToString()))) back = (Invoice)dcs.ReadObject(r);
            Check(back.Number == 1001 && back.Total == 1234.50m && back.Date == inv.Date, "data contract round trip");
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
