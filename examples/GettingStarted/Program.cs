using Npgsql;
using Npgsql.Replication.PgOutput.Messages;
using OpenTelemetry;
using OpenTelemetry.Metrics;

var builder = WebApplication.CreateBuilder(args);

// The checkpoint table lives in the sink database: the sink rows and the offset commit in one transaction.
builder.Services.AddPostgresCheckpointStore("orders", builder.Configuration.GetSection("Cdc:Stores:orders"));
builder.Services.AddPostgresReplicationConsumer("orders", builder.Configuration.GetSection("Cdc:Consumers:orders"),
    async (transaction, cancellationToken) =>
    {
        await foreach (var change in transaction.Changes.WithCancellation(cancellationToken))
        {
            if (change is not InsertMessage insert)
            {
                continue;
            }

            var columns = new List<object>();
            await foreach (var value in insert.NewRow.WithCancellation(cancellationToken))
            {
                columns.Add(value.IsDBNull ? DBNull.Value : await value.Get<string>(cancellationToken));
            }

            await using var command = new NpgsqlCommand("INSERT INTO orders_sink (id, item) VALUES ($1::bigint, $2)", transaction.Connection, transaction.Transaction);
            command.Parameters.Add(new NpgsqlParameter { Value = columns[0] });
            command.Parameters.Add(new NpgsqlParameter { Value = columns[1] });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    });
builder.Services.AddHealthChecks().AddCdcConsumer("orders");
builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddCdcCheckpointInstrumentation().AddPrometheusExporter());

var app = builder.Build();
app.MapHealthChecks("/healthz");
app.MapPrometheusScrapingEndpoint("/metrics");
app.Run();
