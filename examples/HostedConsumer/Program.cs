using HostedConsumer;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

// A resumable CDC consumer in an ASP.NET Core host. The table `orders` (publication `orders_pub`) is applied to
// `orders_sink` by the hosted consumer; the checkpoint commits in the sink's transaction, so a SIGKILL at any moment
// loses no row and applies none twice. GET /healthz and GET /metrics (Prometheus text) report on it; POST /orders?count=N
// inserts N rows into the source table for a demo.
//
//   ConnectionStrings__Source="Host=…;Database=…;Username=…" dotnet run --project examples/HostedConsumer -- --urls http://127.0.0.1:5080
//   dotnet run --project examples/HostedConsumer      # no connection string: a throwaway local PostgreSQL 15
// appsettings.json is read from the build output, so the app finds it from any working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
await using var source = await SourceDatabase.PrepareAsync(builder.Configuration, Console.Error);

builder.Services.AddPostgresCheckpointStore("orders", builder.Configuration.GetSection("Cdc:Stores:orders"), o => o.ConnectionString ??= source.ConnectionString);
builder.Services.AddPostgresReplicationConsumer<OrdersSink>("orders", builder.Configuration.GetSection("Cdc:Consumers:orders"), o => o.ConnectionString ??= source.ConnectionString);
builder.Services.AddHealthChecks().AddCdcConsumer("orders");
builder.Services.AddOpenTelemetry()
    .WithMetrics(metrics => metrics.AddCdcCheckpointInstrumentation().AddPrometheusExporter())
    .WithTracing(tracing => tracing.AddCdcCheckpointInstrumentation());

var app = builder.Build();
app.MapHealthChecks("/healthz");
app.MapPrometheusScrapingEndpoint("/metrics");
app.MapPost("/orders", async (int? count, CancellationToken cancellationToken) => Results.Ok(new { inserted = await source.InsertOrdersAsync(count ?? 1, cancellationToken) }));
await app.RunAsync();
