// A small self-hosted HTTP service, the way pre-ASP.NET Core intranet tools were written with
// HttpListener: listens on the port given in PORT, logs a readiness line, serves a few endpoints
// until it is stopped (SIGTERM or POST /shutdown).
using System;
using System.Globalization;
using System.IO;
using System.Net;
using System.Text;
using System.Threading;

namespace WebHttpListener
{
    static class Program
    {
        static readonly ManualResetEvent Stop = new ManualResetEvent(false);

        static int Main()
        {
            string port = Environment.GetEnvironmentVariable("PORT") ?? "5000";
            var listener = new HttpListener();
            listener.Prefixes.Add("http://127.0.0.1:" + port + "/");
            listener.Start();
            AppDomain.CurrentDomain.ProcessExit += (s, e) => { Stop.Set(); };
            Console.WriteLine("Now listening on: http://127.0.0.1:<port>");
            Console.WriteLine("Application started.");
            var worker = new Thread(() =>
            {
                while (true)
                {
                    HttpListenerContext ctx;
                    try { ctx = listener.GetContext(); } catch (Exception) { return; }
                    Handle(ctx);
                }
            }) { IsBackground = true };
            worker.Start();
            Stop.WaitOne();
            listener.Close();
            Console.WriteLine("Application stopped.");
            return 0;
        }

        static void Handle(HttpListenerContext ctx)
        {
            string path = ctx.Request.Url.AbsolutePath;
            string method = ctx.Request.HttpMethod;
            Console.WriteLine("request " + method + " " + path);
            int status = 200;
            bool stopping = false;
            string body, type = "application/json";
            if (path == "/health") { body = "{\"status\":\"healthy\"}"; }
            else if (path.StartsWith("/api/invoices/") && method == "GET")
            {
                int id;
                if (int.TryParse(path.Substring("/api/invoices/".Length), NumberStyles.None, CultureInfo.InvariantCulture, out id))
                    body = string.Format(CultureInfo.InvariantCulture, "{{\"id\":{0},\"total\":{1},\"currency\":\"EUR\"}}", id, id * 12.5m);
                else { status = 400; body = "{\"error\":\"invoice id must be a number\"}"; }
            }
            else if (path == "/api/invoices" && method == "POST")
            {
                string input;
                using (var r = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) input = r.ReadToEnd();
                status = 201;
                body = "{\"created\":" + input.Length + "}";
            }
            else if (path == "/shutdown" && method == "POST") { body = "{\"stopping\":true}"; stopping = true; }
            else { status = 404; type = "text/plain"; body = "not found"; }
            byte[] bytes = Encoding.UTF8.GetBytes(body);
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = type;
            ctx.Response.ContentLength64 = bytes.Length;
            ctx.Response.OutputStream.Write(bytes, 0, bytes.Length);
            ctx.Response.Close();
            // Only once the answer is out: Main closes the listener as soon as Stop is set, and a
            // response still being written then throws on this thread and kills the process.
            if (stopping) Stop.Set();
        }
    }
}
