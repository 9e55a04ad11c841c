using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Hosting.Tests.Support;
using Cdc.Checkpoint.Offsets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>
/// A hosted consumer of another source, written against Hosting's public extension point only (as docs/hosting.md
/// describes it for a provider's hosting package): the base retries, keeps the status and fails stop.
/// </summary>
public sealed class HostedConsumerBaseTests
{
    private const string SourceType = "ticker";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Run_TransientFailuresThenTicks_RetriesSavesEachTickAndStopsWithAFinalStatus()
    {
        using var host = Build(o =>
        {
            o.FailTransientlyTimes = 2;
            o.Ticks = 3;
        });
        await host.StartAsync(Ct);
        var registry = host.Services.GetRequiredService<ConsumerStatusRegistry>();
        var store = host.Services.GetRequiredKeyedService<ICheckpointStore>("ticker");

        await Eventually.HoldsAsync(async () => (await store.LoadAsync(SourceType, Ct))?.CommittedEventCount == 3, "three ticks are saved");
        var streaming = registry.Get("ticker").ShouldNotBeNull();
        streaming.State.ShouldBe(ConsumerState.Streaming);
        streaming.LastVerdict.ShouldBe("Resume");
        streaming.LastError.ShouldBeNull();
        await host.StopAsync(Ct);

        var stopped = registry.Get("ticker").ShouldNotBeNull();
        stopped.State.ShouldBe(ConsumerState.Stopped);
        stopped.DurableCheckpoint.ShouldBe("tick 3");
        stopped.CommittedEventCount.ShouldBe(3UL);
        host.Services.GetServices<IHostedService>().OfType<TickerConsumer>().Single().Attempts.ShouldBe(3);
    }

    [Fact]
    public async Task Run_FailureARetryCannotFix_MarksTheConsumerFailedWithTheCodeAndMessage()
    {
        using var host = Build(o =>
        {
            o.FailForGood = true;
            o.OnFailure = ConsumerFailureBehavior.MarkUnhealthy;
        });
        await host.StartAsync(Ct);
        var registry = host.Services.GetRequiredService<ConsumerStatusRegistry>();

        await Eventually.HoldsAsync(() => registry.Get("ticker")?.State == ConsumerState.Failed, "the consumer fails");

        var failed = registry.Get("ticker").ShouldNotBeNull();
        failed.LastErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        failed.LastError.ShouldBe("The ticker's checkpoint is broken.");
        host.Services.GetServices<IHostedService>().OfType<TickerConsumer>().Single().Attempts.ShouldBe(1);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task StartAsync_SourceAndSharedOptionsInvalid_ReportsBothThroughTheValidatorBase()
    {
        using var host = Build(o =>
        {
            o.Ticks = 0;
            o.Retry.Delay = TimeSpan.Zero;
            o.Store = " ";
        });

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        error.Failures.Count().ShouldBe(3, string.Join(Environment.NewLine, error.Failures));
        error.Message.ShouldContain("Ticker consumer 'ticker': option TickerOptions.Ticks must be 1 or more");
        error.Message.ShouldContain("Ticker consumer 'ticker': option TickerOptions.Retry:Delay must be positive");
        error.Message.ShouldContain("Ticker consumer 'ticker': option TickerOptions.Store is empty");
    }

    private static IHost Build(Action<TickerOptions> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddCdcInMemoryCheckpointStore("ticker");
        builder.Services.AddTicker("ticker", o =>
        {
            o.Retry.Delay = TimeSpan.FromMilliseconds(10);
            o.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
            o.Retry.UseJitter = false;
            o.Checkpoint.EveryTransactions = 1;
            configure(o);
        });
        return builder.Build();
    }
}

/// <summary>The options of the ticker consumer: the shared keys plus its own.</summary>
public sealed class TickerOptions : HostedConsumerOptions
{
    /// <summary>How many ticks a stream delivers before it waits for the host to stop.</summary>
    public int Ticks { get; set; } = 3;

    /// <summary>How many attempts fail with a transient error before one streams.</summary>
    public int FailTransientlyTimes { get; set; }

    /// <summary>Whether every attempt fails with an error a retry cannot fix.</summary>
    public bool FailForGood { get; set; }
}

internal sealed class TickerOptionsValidator(IEnumerable<ConfigurationKeys> keys) : HostedConsumerOptionsValidator<TickerOptions>(keys)
{
    protected override string DescribeConsumer(string? name) => $"Ticker consumer '{name}'";

    protected override void ValidateSource(TickerOptions options, ConfigurationKeys key, string prefix, IList<string> errors)
    {
        if (options.Ticks < 1)
        {
            errors.Add($"{prefix} {key.Of(nameof(options.Ticks))} must be 1 or more, not {options.Ticks}.");
        }
    }
}

/// <summary>Counts ticks into its checkpoint store; the whole consumer, beside what the base does.</summary>
internal sealed class TickerConsumer(string name, TickerOptions options, IServiceProvider services) : HostedConsumer(name, options, services)
{
    private int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);

    protected override async Task RunStreamAsync(ConsumerStreamContext stream, CancellationToken stoppingToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        var store = GetCheckpointStore();
        var count = (await store.LoadAsync("ticker", stoppingToken).ConfigureAwait(false))?.CommittedEventCount ?? 0;
        if (options.FailForGood)
        {
            throw new CheckpointException(CheckpointErrorCode.Corrupt, "The ticker's checkpoint is broken.");
        }

        if (attempt <= options.FailTransientlyTimes)
        {
            throw new CheckpointException(CheckpointErrorCode.ConnectionLost, "The ticker's connection was lost (transient).");
        }

        stream.ReportStreaming($"tick {count}", "Resume");
        for (var i = 0; i < options.Ticks; i++)
        {
            stream.MarkReceiving();
            count++;
            await store.SaveAsync(GenericOffset.Parse("ticker", $"{{\"tick\":{count}}}"), count, stoppingToken).ConfigureAwait(false);
        }

        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping: every tick is saved already.
        }

        stream.ReportStopped($"tick {count}", count);
    }
}

internal static class TickerServiceCollectionExtensions
{
    public static IServiceCollection AddTicker(this IServiceCollection services, string name, Action<TickerOptions> configure)
    {
        // Configured in code only: no section to bind.
        ValidatedOptions.Add<TickerOptions, TickerOptionsValidator>(services, name, null, configure, static (_, _) => { });
        services.TryAddSingleton<ConsumerStatusRegistry>();
        services.AddSingleton<IHostedService>(sp => new TickerConsumer(name, sp.GetRequiredService<IOptionsMonitor<TickerOptions>>().Get(name), sp));
        return services;
    }
}
