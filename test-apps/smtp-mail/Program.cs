// Sending invoice mails with System.Net.Mail to an SMTP listener inside the app on loopback:
// the SMTP dialogue, encoded subjects, attachments, and how the client reports a refused recipient.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Mail;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace SmtpMail
{
    static class Program
    {
        static int failures;
        static readonly List<string> Received = new List<string>();

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        // A tiny SMTP server: enough of RFC 5321 for SmtpClient, refusing one recipient.
        static void Serve(TcpListener listener)
        {
            while (true)
            {
                TcpClient accepted;
                try { accepted = listener.AcceptTcpClient(); } catch (SocketException) { return; } catch (ObjectDisposedException) { return; }
                new Thread(() =>
                {
                    try { Session(accepted); }
                    catch (IOException e) { lock (Received) Received.Add("S: session ended by " + e.GetType().Name); }
                }) { IsBackground = true }.Start();
            }
        }

        static void Session(TcpClient accepted)
        {
            {
                using (var client = accepted)
                using (var stream = client.GetStream())
                using (var reader = new StreamReader(stream, Encoding.ASCII))
                using (var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true })
                {
                    writer.WriteLine("220 localhost test SMTP");
                    string line;
                    while ((line = reader.ReadLine()) != null)
                    {
                        string verb = line.Split(' ')[0].ToUpperInvariant();
                        lock (Received) Received.Add("C: " + (verb == "EHLO" || verb == "HELO" ? verb : line));
                        if (verb == "EHLO") { writer.WriteLine("250-localhost"); writer.WriteLine("250 8BITMIME"); }
                        else if (verb == "RCPT" && line.Contains("blocked@")) writer.WriteLine("550 mailbox unavailable");
                        else if (verb == "DATA")
                        {
                            writer.WriteLine("354 end with .");
                            var data = new List<string>();
                            while ((line = reader.ReadLine()) != null && line != ".") data.Add(line);
                            lock (Received) Received.AddRange(data.Where(d => d.StartsWith("Subject:") || d.StartsWith("To:") || d.StartsWith("From:") || d.StartsWith("Content-Type:") || d.StartsWith("Content-Disposition:")).Select(d => "H: " + d));
                            writer.WriteLine("250 queued");
                        }
                        else if (verb == "QUIT") { writer.WriteLine("221 bye"); break; }
                        else writer.WriteLine("250 ok");
                    }
                }
            }
        }

        static int Main()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var server = new Thread(() => Serve(listener)) { IsBackground = true };
            server.Start();

            using (var smtp = new SmtpClient("127.0.0.1", port) { DeliveryMethod = SmtpDeliveryMethod.Network, EnableSsl = false })
            {
                var mail = new MailMessage(new MailAddress("billing@contoso.test", "Contoso Billing"), new MailAddress("kunde@example.test", "Jürgen Müller"));
                mail.Subject = "Rechnung Nr. 2024-0001 – fällig";
                mail.SubjectEncoding = Encoding.UTF8;
                mail.Body = "Sehr geehrter Herr Müller,\nanbei Ihre Rechnung.";
                mail.BodyEncoding = Encoding.UTF8;
                mail.Attachments.Add(new Attachment(new MemoryStream(Encoding.UTF8.GetBytes("id;amount\n1;1234.50\n")), "rechnung.csv", "text/csv"));
                smtp.Send(mail);
                Console.WriteLine("sent invoice mail");

                var refused = new MailMessage("billing@contoso.test", "blocked@example.test", "hello", "body");
                try { smtp.Send(refused); Console.WriteLine("refused recipient: sent"); }
                catch (SmtpFailedRecipientException e) { Console.WriteLine("refused recipient: " + e.StatusCode + " " + e.FailedRecipient); }
                catch (SmtpException e) { Console.WriteLine("refused recipient: SmtpException " + e.StatusCode); }
            }
            // The server logs each command before it answers, so the log is complete once Send
            // returns; the listener thread is a background thread and ends with the process.
            lock (Received) foreach (var r in Received) Console.WriteLine(r);
            Check(Received.Any(r => r.StartsWith("H: Subject:")), "subject received");
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
