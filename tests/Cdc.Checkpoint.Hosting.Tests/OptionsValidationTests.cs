using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using NpgsqlTypes;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>Options bound from configuration are validated when the host starts, with messages that name the key.</summary>
public sealed class OptionsValidationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartAsync_ConsumerWithoutSlotAndPublications_FailsNamingEachKey()
    {
        using var host = Build(
            new()
            {
                ["Cdc:Consumers:orders:ConnectionString"] = "Host=localhost;Database=app",
                ["Cdc:Stores:orders:Directory"] = "/tmp/never-used",
            },
            (services, configuration) =>
            {
                services.AddCdcFileCheckpointStore("orders", configuration.GetSection("Cdc:Stores:orders"));
                services.AddPostgresReplicationConsumer("orders", configuration.GetSection("Cdc:Consumers:orders"), (_, _) => default);
            });

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        error.Message.ShouldContain("configuration key 'Cdc:Consumers:orders:SlotName' is required");
        error.Message.ShouldContain("configuration key 'Cdc:Consumers:orders:Publications' must name at least one publication");
        error.Message.ShouldNotContain("ConnectionString");
    }

    [Fact]
    public async Task StartAsync_FileStoreWithoutDirectory_FailsNamingTheKey()
    {
        using var host = Build([], (services, configuration) => services.AddCdcFileCheckpointStore("orders", configuration.GetSection("Cdc:Stores:orders")));

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        error.Message.ShouldContain("File checkpoint store 'orders': configuration key 'Cdc:Stores:orders:Directory' is required");
    }

    [Fact]
    public async Task StartAsync_InconsistentPolicyRetryAndThresholds_ReportsEveryProblem()
    {
        using var host = Build(
            new()
            {
                ["c:ConnectionString"] = "Host=localhost",
                ["c:SlotName"] = "Not-A-Slot",
                ["c:Publications:0"] = "pub",
                ["c:AcknowledgeLag"] = "5000",
                ["c:Checkpoint:EveryTransactions"] = "0",
                ["c:Retry:Delay"] = "00:00:10",
                ["c:Retry:MaxDelay"] = "00:00:01",
                ["c:Health:LagBytesDegraded"] = "2000",
                ["c:Health:LagBytesUnhealthy"] = "1000",
                ["c:Health:SafeWalSizeDegraded"] = "10",
                ["c:Health:SafeWalSizeUnhealthy"] = "20",
            },
            (services, configuration) => services.AddPostgresReplicationConsumer("c1", configuration.GetSection("c"), (_, _) => default));

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        error.Failures.Count().ShouldBe(6, string.Join(Environment.NewLine, error.Failures));
        error.Message.ShouldContain("'c:SlotName' 'Not-A-Slot' is not a valid slot name");
        error.Message.ShouldContain("'c:AcknowledgeLag' must be 0 to 1000");
        error.Message.ShouldContain("the consumer would checkpoint only at shutdown");
        error.Message.ShouldContain("'c:Retry:MaxDelay' (00:00:01) must be at least");
        error.Message.ShouldContain("'c:Health:LagBytesDegraded' (2000) must be at most");
        error.Message.ShouldContain("'c:Health:SafeWalSizeDegraded' (10) must be at least");
    }

    [Fact]
    public async Task StartAsync_TableStoreWithBadConnectionStringAndSchema_FailsNamingTheKeys()
    {
        using var host = Build(
            new() { ["s:ConnectionString"] = "Hostx=nowhere", ["s:Schema"] = "bad schema" },
            (services, configuration) => services.AddPostgresCheckpointStore("orders", configuration.GetSection("s")));

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        error.Message.ShouldContain("PostgreSQL checkpoint store 'orders': configuration key 's:ConnectionString' is not a valid Npgsql connection string");
        error.Message.ShouldContain("configuration key 's:Schema'");
    }

    [Fact]
    public void AddCdcCheckpointStore_SameNameTwice_Throws()
    {
        var services = new ServiceCollection();
        services.AddCdcInMemoryCheckpointStore("orders");

        var error = Should.Throw<InvalidOperationException>(() => services.AddCdcFileCheckpointStore("orders", o => o.Directory = "/tmp/x"));

        error.Message.ShouldContain("'orders' is already registered");
    }

    [Fact]
    public async Task AddCdcFileCheckpointStore_DirectoryAndParentsMissing_CreatesThemPrivateAndSavesDurably()
    {
        var root = new TempDirectory("cdc-hosting-");
        try
        {
            var directory = Path.Combine(root.Path, "a", "b", "orders");
            using (var host = Build(new() { ["s:Directory"] = directory }, (services, configuration) => services.AddCdcFileCheckpointStore("orders", configuration.GetSection("s"))))
            {
                await host.StartAsync(Ct);
                var store = host.Services.GetRequiredKeyedService<ICheckpointStore>("orders");
                store.ShouldBeOfType<FileCheckpoint>();
                var offset = new PostgresOffset(new NpgsqlLogSequenceNumber(0x1000), "orders_slot", 42, 1);
                await store.SaveAsync(offset, 7, Ct);
                await host.StopAsync(Ct);
            }

            File.GetUnixFileMode(directory).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await using var reopened = new FileCheckpoint(directory, new FileCheckpointOptions { Codecs = Cdc.Checkpoint.Offsets.OffsetCodecRegistry.Empty.WithPostgres() });
            var record = await reopened.LoadAsync(PostgresOffset.StreamingSourceType, Ct);
            record.ShouldNotBeNull();
            record.CommittedEventCount.ShouldBe(7UL);
            ((PostgresOffset)record.Offset).Lsn.ShouldBe(new NpgsqlLogSequenceNumber(0x1000));
        }
        finally
        {
            root.Dispose();
        }
    }

    private static IHost Build(Dictionary<string, string?> settings, Action<IServiceCollection, IConfiguration> register)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        register(builder.Services, builder.Configuration);
        return builder.Build();
    }
}
