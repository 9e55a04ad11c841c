using System.Collections.Concurrent;
using System.Globalization;
using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Postgres.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace Cdc.Checkpoint.Hosting.Tests.Support;

/// <summary>Where a test consumer keeps its checkpoint.</summary>
internal enum TestStore
{
    /// <summary>A file checkpoint in a temp directory; the sink is the test's list of received ids.</summary>
    File,

    /// <summary>The PostgreSQL table store in the source database; the handler writes the sink table in the store's transaction.</summary>
    Table,
}

/// <summary>A Generic Host running one hosted consumer named <c>orders</c> (plus extra registrations), configured as an app would be.</summary>
internal sealed class ConsumerHost : IAsyncDisposable
{
    public const string Name = "orders";

    private ConsumerHost(IHost host, ListLoggerFactory logs)
    {
        Host = host;
        Logs = logs;
    }

    public IHost Host { get; }

    public ListLoggerFactory Logs { get; }

    /// <summary>Ids the handler applied, in order (file store) — or written to the sink table (table store).</summary>
    public ConcurrentQueue<long> Applied { get; } = new();

    public ConsumerStatusRegistry Registry => Host.Services.GetRequiredService<ConsumerStatusRegistry>();

    public ConsumerStatus Status => Registry.Get(Name)!;

    public static ConsumerHost Create(
        HostingDatabase database,
        string slot,
        TestStore store,
        string? directory,
        Dictionary<string, string?>? settings = null,
        Func<PostgresTransaction, CancellationToken, ValueTask>? beforeApply = null,
        Action<IServiceCollection, IConfiguration>? more = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var config = new Dictionary<string, string?>
        {
            ["Cdc:Consumers:orders:ConnectionString"] = database.ConnectionString,
            ["Cdc:Consumers:orders:SlotName"] = slot,
            ["Cdc:Consumers:orders:Publications:0"] = "pub",
            ["Cdc:Consumers:orders:IdleAdvanceInterval"] = "01:00:00",
            ["Cdc:Consumers:orders:Retry:Delay"] = "00:00:00.100",
            ["Cdc:Consumers:orders:Retry:MaxDelay"] = "00:00:00.500",
            ["Cdc:Stores:orders:Directory"] = directory,
            ["Cdc:Stores:orders:ConnectionString"] = database.ConnectionString,
        };
        foreach (var (key, value) in settings ?? [])
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        var logs = new ListLoggerFactory();
        builder.Logging.SetMinimumLevel(LogLevel.Debug).AddProvider(logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        ConsumerHost? self = null;
        if (store == TestStore.File)
        {
            builder.Services.AddCdcFileCheckpointStore(Name, builder.Configuration.GetSection("Cdc:Stores:orders"));
        }
        else
        {
            builder.Services.AddPostgresCheckpointStore(Name, builder.Configuration.GetSection("Cdc:Stores:orders"));
        }

        builder.Services.AddPostgresReplicationConsumer(Name, builder.Configuration.GetSection("Cdc:Consumers:orders"), async (transaction, cancellationToken) =>
        {
            if (beforeApply is not null)
            {
                await beforeApply(transaction, cancellationToken);
            }

            await ApplyAsync(self!, transaction, cancellationToken);
        });
        builder.Services.AddHealthChecks().AddCdcConsumer(Name);
        more?.Invoke(builder.Services, builder.Configuration);
        self = new ConsumerHost(builder.Build(), logs);
        return self;
    }

    public async Task<HealthReport> HealthAsync() =>
        await Host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(HostingDatabase.Token);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Host.StopAsync(CancellationToken.None);
        }
        finally
        {
            Host.Dispose();
        }
    }

    // The sink: the ids of inserted rows; in the store's transaction when there is one.
    private static async ValueTask ApplyAsync(ConsumerHost self, PostgresTransaction transaction, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        await foreach (var message in transaction.Changes.WithCancellation(cancellationToken))
        {
            if (message is InsertMessage insert)
            {
                var column = 0;
                long id = 0;
                await foreach (var value in insert.NewRow.WithCancellation(cancellationToken))
                {
                    if (column++ == 0)
                    {
                        id = long.Parse(await value.Get<string>(cancellationToken), CultureInfo.InvariantCulture);
                    }
                }

                ids.Add(id);
            }
        }

        if (transaction.Transaction is { } sink)
        {
            foreach (var id in ids)
            {
                await using var command = new NpgsqlCommand("INSERT INTO sink (id, payload) VALUES ($1, 'x')", transaction.Connection, sink);
                command.Parameters.Add(new NpgsqlParameter { Value = id });
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        foreach (var id in ids)
        {
            self.Applied.Enqueue(id);
        }
    }
}
