using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Hosting.Consumers;

/// <summary>
/// The base of a hosted consumer of one source, the extension point a provider's hosting package builds on (as
/// <c>Cdc.Checkpoint.Postgres.Hosting</c> does). The base owns what does not depend on the source: one stream after
/// another through a retry pipeline (transient failures, exponential backoff, a fresh series of attempts once a stream
/// has delivered data), the consumer's <see cref="ConsumerStatus"/> in the <see cref="ConsumerStatusRegistry"/> for
/// health checks, the logs (<see cref="Diagnostics.HostingEventId"/>), and a fail-stop with the operator's message (or
/// an unhealthy consumer, by <see cref="HostedConsumerOptions.OnFailure"/>) when a failure cannot be retried.
/// </summary>
/// <remarks>
/// <para>
/// The contract of <see cref="RunStreamAsync"/>: open the stream (load and validate the checkpoint), call
/// <see cref="ConsumerStreamContext.ReportStreaming"/>, call <see cref="ConsumerStreamContext.MarkReceiving"/> whenever data
/// arrives, and return only when the stopping token asks it to stop, after saving a final checkpoint and
/// calling <see cref="ConsumerStreamContext.ReportStopped"/>. Any exception ends the stream: it is retried when
/// <see cref="IsTransient"/> says so, and otherwise stops the consumer. Never catch and log a failed save: the base must
/// see it.
/// </para>
/// <para>
/// The derived class is registered as an <see cref="IHostedService"/> singleton next to a
/// <see cref="ConsumerStatusRegistry"/> singleton (<c>services.TryAddSingleton&lt;ConsumerStatusRegistry&gt;()</c>); its
/// name must be unique in the process.
/// </para>
/// </remarks>
public abstract class HostedConsumer : BackgroundService
{
    private readonly HostedConsumerOptions _options;
    private readonly ConsumerStatusRegistry _registry;
    private readonly ConsumerStatusTracker _tracker;

    /// <summary>Creates the consumer and registers its status under <paramref name="name"/>.</summary>
    /// <param name="name">The consumer name (logs, health check, default store name).</param>
    /// <param name="options">The shared options (the provider's options object).</param>
    /// <param name="services">The container: supplies the <see cref="ConsumerStatusRegistry"/>, and optionally an <see cref="ILoggerFactory"/>, a <see cref="System.TimeProvider"/> and the <see cref="IHostApplicationLifetime"/>.</param>
    /// <exception cref="InvalidOperationException">Another consumer named <paramref name="name"/> runs in this process, or no <see cref="ConsumerStatusRegistry"/> is registered.</exception>
    protected HostedConsumer(string name, HostedConsumerOptions options, IServiceProvider services)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        Name = name;
        _options = options;
        Services = services;
        LoggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System;
        Logger = LoggerFactory.CreateLogger(GetType());
        _registry = services.GetRequiredService<ConsumerStatusRegistry>();
        _tracker = _registry.Register(name, options.Health);
    }

    /// <summary>The consumer name.</summary>
    public string Name { get; }

    /// <summary>The name of the checkpoint store the consumer uses: <see cref="HostedConsumerOptions.Store"/>, else <see cref="Name"/>.</summary>
    protected string StoreName => _options.Store ?? Name;

    /// <summary>The container.</summary>
    protected IServiceProvider Services { get; }

    /// <summary>The logger factory from the container, or a null one.</summary>
    protected ILoggerFactory LoggerFactory { get; }

    /// <summary>The clock from the container, or <see cref="TimeProvider.System"/>.</summary>
    protected TimeProvider TimeProvider { get; }

    /// <summary>The consumer's logger (category: the derived type).</summary>
    protected ILogger Logger { get; }

    /// <summary>
    /// Resolves the checkpoint store named <see cref="StoreName"/> (a keyed <see cref="ICheckpointStore"/>).
    /// </summary>
    /// <returns>The store.</returns>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Misconfigured"/> when no store of that name is registered.</exception>
    protected ICheckpointStore GetCheckpointStore() =>
        Services.GetKeyedService<ICheckpointStore>(StoreName) ?? throw new CheckpointException(
            CheckpointErrorCode.Misconfigured,
            $"Consumer '{Name}' uses checkpoint store '{StoreName}', but no store of that name is registered. Register one (AddPostgresCheckpointStore, AddCdcFileCheckpointStore, …) with that name, or set the consumer's Store option.");

    /// <summary>
    /// Whether a failure is retried. The base retries a transient <see cref="CheckpointException"/>; a provider adds its
    /// driver's transient failures (and calls the base). A cancellation is never retried, whatever this returns.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <returns><see langword="true"/> to retry after a delay.</returns>
    protected virtual bool IsTransient(Exception exception) => exception is CheckpointException { IsTransient: true };

    /// <summary>Runs one stream, from opening it to a clean stop; see the contract in the remarks of <see cref="HostedConsumer"/>.</summary>
    /// <param name="stream">Where the stream reports its state.</param>
    /// <param name="stoppingToken">Signalled when the host stops.</param>
    /// <returns>A task that ends when the stream stops.</returns>
    protected abstract Task RunStreamAsync(ConsumerStreamContext stream, CancellationToken stoppingToken);

    /// <inheritdoc/>
    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Let the host finish starting (and the web server listen) before the first connection attempt.
        await Task.Yield();
        var runner = new ConsumerRunner(Name, _options.Retry, _options.OnFailure, IsTransient, _tracker, Services.GetService<IHostApplicationLifetime>(), TimeProvider, Logger);
        await runner.RunAsync(RunStreamAsync, stoppingToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        _registry.Unregister(_tracker);
        base.Dispose();
        GC.SuppressFinalize(this);
    }
}
