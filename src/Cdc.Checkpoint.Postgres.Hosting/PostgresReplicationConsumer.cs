using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Hosting.Diagnostics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Validation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// The hosted consumer: opens a <see cref="PostgresReplicationSession"/> (load, validate, slot handling), hands each
/// committed transaction to the handler, checkpoints it (in the sink's transaction, or by the checkpoint policy), lets
/// the session acknowledge only durable checkpoints, retries transient failures and fails stop on the others; on host
/// shutdown it stops between transactions and saves a final checkpoint.
/// </summary>
internal sealed class PostgresReplicationConsumer : BackgroundService
{
    private readonly string _name;
    private readonly PostgresReplicationConsumerOptions _options;
    private readonly IServiceProvider _services;
    private readonly Func<IServiceProvider, IPostgresTransactionHandler> _handlerFactory;
    private readonly ConsumerStatusRegistry _registry;
    private readonly ConsumerStatusTracker _tracker;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    public PostgresReplicationConsumer(
        string name,
        PostgresReplicationConsumerOptions options,
        IServiceProvider services,
        Func<IServiceProvider, IPostgresTransactionHandler> handlerFactory)
    {
        _name = name;
        _options = options;
        _services = services;
        _handlerFactory = handlerFactory;
        _loggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        _timeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _logger = _loggerFactory.CreateLogger<PostgresReplicationConsumer>();
        _registry = services.GetRequiredService<ConsumerStatusRegistry>();
        _tracker = _registry.Register(name, options.Health);
    }

    /// <summary>Whether a failure is retried: transient refusals and connection failures (the sink's too).</summary>
    internal static bool IsTransient(Exception exception) => exception switch
    {
        CheckpointException checkpoint => checkpoint.IsTransient,
        NpgsqlException npgsql => npgsql.IsTransient,
        _ => false,
    };

    public override void Dispose()
    {
        _registry.Unregister(_tracker);
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Let the host finish starting (and the web server listen) before the first connection attempt.
        await Task.Yield();
        var runner = new ConsumerRunner(
            _name, _options.Retry, _options.OnFailure, IsTransient, _tracker, _services.GetService<IHostApplicationLifetime>(), _timeProvider, _logger);
        await runner.RunAsync(RunStreamAsync, stoppingToken).ConfigureAwait(false);
    }

    private async Task RunStreamAsync(StreamProgress progress, CancellationToken stoppingToken)
    {
        _tracker.Update(s => s with { State = ConsumerState.Starting });
        var storeName = _options.Store ?? _name;
        var store = _services.GetKeyedService<ICheckpointStore>(storeName) ?? throw new CheckpointException(
            CheckpointErrorCode.Misconfigured,
            $"Consumer '{_name}' uses checkpoint store '{storeName}', but no store of that name is registered. Register one (AddPostgresCheckpointStore, AddCdcFileCheckpointStore, …) with that name, or set the consumer's Store option.");
        var sinkStore = _services.GetKeyedService<PostgresStoreRegistration>(storeName);
        if (sinkStore is { Options.CreateSchema: true })
        {
            await sinkStore.Store.CreateSchemaAsync(stoppingToken).ConfigureAwait(false);
        }

        var sessionOptions = new PostgresReplicationSessionOptions
        {
            SlotName = _options.SlotName!,
            PublicationNames = [.. _options.Publications],
            Acknowledgement = new ReplicationAcknowledgerOptions { IdleAdvanceInterval = _options.IdleAdvanceInterval, AcknowledgeLag = _options.AcknowledgeLag },
        };

        var session = await PostgresReplicationSession.OpenAsync(_options.ConnectionString!, store, sessionOptions, _loggerFactory, _timeProvider, stoppingToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            using var stream = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var background = new BackgroundFailure();
            _tracker.SetLive(status => Live(status, session.GetStatus()));
            var verdict = session.Validation.Verdict.ToString();
            var start = session.StartPosition.ToString();
            _tracker.Update(s => s with { State = ConsumerState.Streaming, RetryAttempt = 0, LastError = null, LastErrorCode = null, LastVerdict = verdict });
            Log.ConsumerStreaming(_logger, _name, start, verdict);
            var slotCheck = CheckSlotAsync(session, stream.Token);
            var transactional = sinkStore is not null && ReferenceEquals(sinkStore.Store, store);
            var interval = transactional || _options.Checkpoint.Interval is not { } every
                ? Task.CompletedTask
                : CheckpointEveryAsync(session, every, background, stream);
            try
            {
                await StreamAsync(session, transactional ? sinkStore : null, progress, stream.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stream.IsCancellationRequested)
            {
                // Host shutdown (or a background failure, rethrown below): stop between transactions.
            }
            finally
            {
                _tracker.SetLive(null);
                await stream.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(slotCheck, interval).ConfigureAwait(false);
            }

            background.ThrowIfFailed();
            if (!transactional)
            {
                // The final checkpoint: everything applied so far. (With the table store, every applied transaction
                // is already durable, and saving outside the sink's transaction could cover rows it never committed.)
                await session.Acknowledger.CheckpointAsync(CancellationToken.None).ConfigureAwait(false);
            }

            var final = session.GetStatus().Durable;
            var finalText = final.ToString();
            _tracker.Update(s => s with { DurableCheckpoint = finalText, CommittedEventCount = final.CommittedEventCount });
            Log.ConsumerStopped(_logger, _name, finalText);
        }
    }

    private async Task StreamAsync(PostgresReplicationSession session, PostgresStoreRegistration? sink, StreamProgress progress, CancellationToken cancellationToken)
    {
        var scope = _services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var handler = _handlerFactory(scope.ServiceProvider);
            NpgsqlConnection? connection = sink is null ? null : await sink.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var pending = 0;
                var messages = session.ReadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
                await using (messages.ConfigureAwait(false))
                {
                    while (await messages.MoveNextAsync().ConfigureAwait(false))
                    {
                        progress.Streaming = true;
                        if (messages.Current is not BeginMessage begin)
                        {
                            continue; // pgoutput sends everything else inside a transaction.
                        }

                        if (cancellationToken.IsCancellationRequested)
                        {
                            return; // Npgsql may still hand out buffered messages after cancellation.
                        }

                        if (connection is not null)
                        {
                            await ApplyInSinkTransactionAsync(session, handler, connection, sink!.Store, begin, messages, cancellationToken).ConfigureAwait(false);
                            continue;
                        }

                        var transaction = new PostgresTransaction(_name, begin, messages, null, null);
                        await handler.HandleAsync(transaction, cancellationToken).ConfigureAwait(false);
                        await transaction.DrainAsync().ConfigureAwait(false);
                        session.Acknowledger.MarkProcessed(transaction.Commit!, transaction.EventCount);
                        if (_options.Checkpoint.EveryTransactions > 0 && ++pending >= _options.Checkpoint.EveryTransactions)
                        {
                            pending = 0;
                            await session.Acknowledger.CheckpointAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                if (!cancellationToken.IsCancellationRequested)
                {
                    // Only the host stops a consumer: a stream that ends by itself is reopened from the checkpoint.
                    throw new CheckpointException(
                        CheckpointErrorCode.ConnectionLost,
                        $"The replication stream of consumer '{_name}' on slot '{_options.SlotName}' ended; reopening it from the durable checkpoint (transient).");
                }
            }
            finally
            {
                if (connection is not null)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    // Exactly once: the handler's sink writes and the checkpoint commit in one transaction; the acknowledgement follows.
    private async Task ApplyInSinkTransactionAsync(
        PostgresReplicationSession session,
        IPostgresTransactionHandler handler,
        NpgsqlConnection connection,
        PostgresCheckpointStore store,
        BeginMessage begin,
        IAsyncEnumerator<PgOutputReplicationMessage> messages,
        CancellationToken cancellationToken)
    {
        var sinkTransaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (sinkTransaction.ConfigureAwait(false))
        {
            var transaction = new PostgresTransaction(_name, begin, messages, connection, sinkTransaction);
            await handler.HandleAsync(transaction, cancellationToken).ConfigureAwait(false);
            await transaction.DrainAsync().ConfigureAwait(false);
            var position = session.Acknowledger.MarkProcessed(transaction.Commit!, transaction.EventCount);

            // Applied: finish it even when the host is stopping, so a stop never waits for a redelivery.
            await store.SaveAsync(sinkTransaction, position.Offset, position.CommittedEventCount, CancellationToken.None).ConfigureAwait(false);
            await sinkTransaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            await session.Acknowledger.MarkDurableAsync(position, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task CheckpointEveryAsync(PostgresReplicationSession session, TimeSpan interval, BackgroundFailure failure, CancellationTokenSource stream)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval, _timeProvider, stream.Token).ConfigureAwait(false);
                if (await session.Acknowledger.CheckpointAsync(stream.Token).ConfigureAwait(false))
                {
                    Log.PolicyCheckpoint(_logger, _name, "interval");
                }
            }
        }
        catch (OperationCanceledException) when (stream.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // A save that failed stops the stream; the runner retries or fails stop on this exception.
            failure.Set(ex);
            await stream.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task CheckSlotAsync(PostgresReplicationSession session, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                try
                {
                    var health = await session.ReadSlotHealthAsync(cancellationToken).ConfigureAwait(false);
                    _tracker.Update(s => s with
                    {
                        SlotWalStatus = health?.WalStatus.ToString().ToLowerInvariant(),
                        SlotSafeWalSizeBytes = health?.SafeWalSize,
                    });
                }
                catch (NpgsqlException ex)
                {
                    Log.SlotCheckFailed(_logger, _name, _options.SlotName!, ex);
                }

                await Task.Delay(_options.Health.SlotCheckInterval, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static ConsumerStatus Live(ConsumerStatus status, PostgresReplicationStatus session) => status with
    {
        DurableCheckpoint = session.Durable.ToString(),
        CommittedEventCount = session.Durable.CommittedEventCount,
        LagBytes = session.LagBytes,
        CheckpointAge = session.CheckpointAge,
    };

    private sealed class BackgroundFailure
    {
        private Exception? _exception;

        public void Set(Exception exception) => Interlocked.CompareExchange(ref _exception, exception, null);

        public void ThrowIfFailed()
        {
            if (Volatile.Read(ref _exception) is { } exception)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(exception);
            }
        }
    }
}
