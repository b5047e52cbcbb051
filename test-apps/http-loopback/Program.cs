// An integration client and server on loopback: an HttpListener endpoint serving JSON and echoing
// uploads, called with HttpClient (GET, POST, headers, status codes, redirects, timeouts).
using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace HttpLoopback
{
    static class Program
    {
        static int failures;

        static void Check(bool ok, string what)
        {
            if (!ok) { failures++; Console.WriteLine("CHECK FAILED: " + what); }
        }

        static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        static void Serve(HttpListener listener)
        {
            while (listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = listener.GetContext(); } catch (HttpListenerException) { return; } catch (ObjectDisposedException) { return; }
                var req = ctx.Request;
                var res = ctx.Response;
                string body;
                using (var r = new StreamReader(req.InputStream, Encoding.UTF8)) body = r.ReadToEnd();
                string path = req.Url.AbsolutePath;
                if (path == "/api/rates") { res.ContentType = "application/json"; Write(res, 200, "{\"EUR\":1.0,\"USD\":1.0842}"); }
                else if (path == "/api/echo") { res.ContentType = req.ContentType; Write(res, 201, req.HttpMethod + " " + req.Headers["X-Tenant"] + " " + body); }
                else if (path == "/old") { res.Redirect("/api/rates"); res.Close(); }
                else if (path == "/slow") { Thread.Sleep(1500); Write(res, 200, "late"); }
                else Write(res, 404, "no route " + path);
            }
        }

        static void Write(HttpListenerResponse res, int status, string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            res.StatusCode = status;
            res.ContentLength64 = bytes.Length;
            try { res.OutputStream.Write(bytes, 0, bytes.Length); res.Close(); } catch (HttpListenerException) { }
        }

        static int Main()
        {
            int port = FreePort();
            string prefix = "http://127.0.0.1:" + port + "/";
            var listener = new HttpListener();
            listener.Prefixes.Add(prefix);
            listener.Start();
            var server = new Thread(() => Serve(listener)) { IsBackground = true };
            server.Start();
            using (var client = new HttpClient(new HttpClientHandler { UseProxy = false }) { BaseAddress = new Uri(prefix), Timeout = TimeSpan.FromSeconds(20) })
            {
                var rates = client.GetAsync("api/rates").Result;
                Console.WriteLine("GET /api/rates -> " + (int)rates.StatusCode + " " + rates.Content.Headers.ContentType.MediaType + " " + rates.Content.ReadAsStringAsync().Result);
                var post = new HttpRequestMessage(HttpMethod.Post, "api/echo") { Content = new StringContent("{\"invoice\":42}", Encoding.UTF8, "application/json") };
                post.Headers.Add("X-Tenant", "contoso");
                var echo = client.SendAsync(post).Result;
                Console.WriteLine("POST /api/echo -> " + (int)echo.StatusCode + " " + echo.Content.ReadAsStringAsync().Result);
                var missing = client.GetAsync("nope").Result;
                Console.WriteLine("GET /nope -> " + (int)missing.StatusCode + " " + missing.Content.ReadAsStringAsync().Result);
                var redirected = client.GetAsync("old").Result;
                Console.WriteLine("GET /old -> " + (int)redirected.StatusCode + " final " + redirected.RequestMessage.RequestUri.AbsolutePath);
                Check(redirected.StatusCode == HttpStatusCode.OK, "redirect followed");
                using (var impatient = new HttpClient(new HttpClientHandler { UseProxy = false }) { BaseAddress = new Uri(prefix), Timeout = TimeSpan.FromMilliseconds(300) })
                {
                    try { impatient.GetAsync("slow").Wait(); Console.WriteLine("GET /slow: answered"); }
                    catch (AggregateException e) { Console.WriteLine("GET /slow: " + e.InnerException.GetType().Name); }
                }
                var parallel = Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.GetStringAsync("api/rates"))).Result;
                Console.WriteLine("8 parallel requests, distinct bodies: " + parallel.Distinct().Count());
            }
            listener.Stop();
            Console.WriteLine("checks failed: " + failures);
            return failures == 0 ? 0 : 1;
        }
    }
}
