using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Postgres.Hosting.Diagnostics;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Postgres.Validation;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>
/// The hosted consumer: opens a <see cref="PostgresReplicationSession"/> (load, validate, slot handling), hands each
/// committed transaction to the handler, checkpoints it (in the sink's transaction, or by the checkpoint policy), lets
/// the session acknowledge only durable checkpoints, retries transient failures and fails stop on the others; on host
/// shutdown it stops between transactions and saves a final checkpoint.
/// </summary>
internal sealed class PostgresReplicationConsumer : HostedConsumer
{
    private readonly PostgresReplicationConsumerOptions _options;
    private readonly Func<IServiceProvider, IPostgresTransactionHandler> _handlerFactory;

    public PostgresReplicationConsumer(
        string name,
        PostgresReplicationConsumerOptions options,
        IServiceProvider services,
        Func<IServiceProvider, IPostgresTransactionHandler> handlerFactory)
        : base(name, options, services)
    {
        _options = options;
        _handlerFactory = handlerFactory;
    }

    /// <summary>Whether a failure is retried: transient refusals and connection failures (the sink's too).</summary>
    protected override bool IsTransient(Exception exception) =>
        base.IsTransient(exception) || exception is NpgsqlException { IsTransient: true };

    protected override async Task RunStreamAsync(ConsumerStreamContext stream, CancellationToken stoppingToken)
    {
        var store = GetCheckpointStore();
        var sinkStore = Services.GetKeyedService<PostgresStoreRegistration>(StoreName);
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

        var session = await PostgresReplicationSession.OpenAsync(_options.ConnectionString!, store, sessionOptions, LoggerFactory, TimeProvider, stoppingToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            using var streamCancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var background = new BackgroundFailure();
            stream.SetLiveStatus(status => Live(status, session.GetStatus()));
            stream.ReportStreaming(session.StartPosition.ToString(), session.Validation.Verdict.ToString());
            var slotCheck = CheckSlotAsync(session, stream, streamCancellation.Token);
            var transactional = sinkStore is not null && ReferenceEquals(sinkStore.Store, store);
            var interval = transactional || _options.Checkpoint.Interval is not { } every
                ? Task.CompletedTask
                : CheckpointEveryAsync(session, stream, every, background, streamCancellation);
            try
            {
                await StreamAsync(session, transactional ? sinkStore : null, stream, streamCancellation.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (streamCancellation.IsCancellationRequested)
            {
                // Host shutdown (or a background failure, rethrown below): stop between transactions.
            }
            finally
            {
                stream.SetLiveStatus(null);
                await streamCancellation.CancelAsync().ConfigureAwait(false);
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
            stream.ReportStopped(final.ToString(), final.CommittedEventCount);
        }
    }

    private async Task StreamAsync(PostgresReplicationSession session, PostgresStoreRegistration? sink, ConsumerStreamContext stream, CancellationToken cancellationToken)
    {
        var scope = Services.CreateAsyncScope();
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
                        stream.MarkReceiving();
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

                        var transaction = new PostgresTransaction(Name, begin, messages, null, null);
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
                        $"The replication stream of consumer '{Name}' on slot '{_options.SlotName}' ended; reopening it from the durable checkpoint (transient).");
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
            var transaction = new PostgresTransaction(Name, begin, messages, connection, sinkTransaction);
            await handler.HandleAsync(transaction, cancellationToken).ConfigureAwait(false);
            await transaction.DrainAsync().ConfigureAwait(false);
            var position = session.Acknowledger.MarkProcessed(transaction.Commit!, transaction.EventCount);

            // Applied: finish it even when the host is stopping, so a stop never waits for a redelivery.
            await store.SaveAsync(sinkTransaction, position.Offset, position.CommittedEventCount, CancellationToken.None).ConfigureAwait(false);
            await sinkTransaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            await session.Acknowledger.MarkDurableAsync(position, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task CheckpointEveryAsync(PostgresReplicationSession session, ConsumerStreamContext consumerStream, TimeSpan interval, BackgroundFailure failure, CancellationTokenSource stream)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval, TimeProvider, stream.Token).ConfigureAwait(false);
                if (await session.Acknowledger.CheckpointAsync(stream.Token).ConfigureAwait(false))
                {
                    consumerStream.ReportPolicyCheckpoint("interval");
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

    private async Task CheckSlotAsync(PostgresReplicationSession session, ConsumerStreamContext stream, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                try
                {
                    var health = await session.ReadSlotHealthAsync(cancellationToken).ConfigureAwait(false);
                    stream.UpdateStatus(s => s with
                    {
                        SlotWalStatus = health?.WalStatus.ToString().ToLowerInvariant(),
                        SlotSafeWalSizeBytes = health?.SafeWalSize,
                    });
                }
                catch (NpgsqlException ex)
                {
                    Log.SlotCheckFailed(Logger, Name, _options.SlotName!, ex);
                }

                await Task.Delay(_options.Health.SlotCheckInterval, TimeProvider, cancellationToken).ConfigureAwait(false);
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
