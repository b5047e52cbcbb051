// An ASP.NET Core web API on Kestrel, written in the Startup style of the .NET Core 3.1/5 era:
// routing, JSON responses, model binding from the route and body, and a health endpoint.
using System;
using System.IO;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace WebApiKestrel
{
    public class Startup
    {
        public void ConfigureServices(IServiceCollection services)
        {
            services.AddRouting();
        }

        public void Configure(IApplicationBuilder app)
        {
            app.UseRouting();
            app.UseEndpoints(endpoints =>
            {
                endpoints.MapGet("/health", ctx => ctx.Response.WriteAsync("{\"status\":\"healthy\"}"));
                endpoints.MapGet("/api/invoices/{id:int}", ctx =>
                {
                    int id = int.Parse((string)ctx.Request.RouteValues["id"]);
                    ctx.Response.ContentType = "application/json";
                    return ctx.Response.WriteAsync("{\"id\":" + id + ",\"total\":" + (id * 12.5m).ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"currency\":\"EUR\"}");
                });
                endpoints.MapPost("/api/invoices", async ctx =>
                {
                    string body;
                    using (var reader = new StreamReader(ctx.Request.Body)) body = await reader.ReadToEndAsync();
                    ctx.Response.StatusCode = 201;
                    await ctx.Response.WriteAsync("{\"created\":" + body.Length + "}");
                });
            });
        }
    }

    public static class Program
    {
        public static void Main(string[] args)
        {
            string port = Environment.GetEnvironmentVariable("PORT") ?? "5000";
            Host.CreateDefaultBuilder(args)
                .ConfigureWebHostDefaults(web => web.UseStartup<Startup>().UseUrls("http://127.0.0.1:" + port))
                .Build()
                .Run();
        }
    }
}
