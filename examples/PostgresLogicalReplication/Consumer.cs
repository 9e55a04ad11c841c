using System.Globalization;
using Cdc.Checkpoint;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Npgsql;
using Npgsql.Replication.PgOutput.Messages;

namespace PostgresLogicalReplication;

/// <summary>Where the consumer writes the rows it receives.</summary>
public enum SinkKind
{
    /// <summary>A table in the same database; rows and checkpoint commit in one transaction (exactly once).</summary>
    Table,

    /// <summary>A file with a FileCheckpoint next to it; lines past the checkpoint are cut at start (exactly once).</summary>
    File,
}

/// <summary>What one consumer process streams and where it writes.</summary>
/// <param name="ConnectionString">The database whose table <c>{Schema}.demo_source</c> is published.</param>
/// <param name="Schema">The schema holding the demo tables (and, for the table sink, the checkpoint tables).</param>
/// <param name="Sink">The sink.</param>
/// <param name="Directory">The file sink's directory (sink file and FileCheckpoint).</param>
public sealed record ConsumerOptions(string ConnectionString, string Schema, SinkKind Sink, string? Directory)
{
    /// <summary>The slot and the publication are named after the schema.</summary>
    public string SlotName => Schema;

    /// <summary>How often an idle session checkpoints and acknowledges the server's WAL end.</summary>
    public TimeSpan IdleAdvanceInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The consumer: open a replication session (validation, slot creation on a fresh start, resume at the checkpoint),
/// apply each transaction to the sink, checkpoint at the commit, and acknowledge only what is durable.
/// </summary>
public static class Consumer
{
    private const int MaxTransientRetries = 60;

    /// <summary>Runs until <paramref name="stop"/> is cancelled (SIGTERM, Ctrl+C) or the process is killed.</summary>
    /// <returns>0 after a clean stop; 1 when resuming is refused (the message says why and what to do).</returns>
    public static async Task<int> RunAsync(ConsumerOptions options, CancellationToken stop)
    {
        using var logging = new StderrLoggerProvider();
        await using var dataSource = NpgsqlDataSource.Create(options.ConnectionString);
        ICheckpointStore store;
        FileSink? fileSink = null;
        if (options.Sink == SinkKind.Table)
        {
            var tableStore = new PostgresCheckpointStore(dataSource, "demo", new PostgresCheckpointStoreOptions { Schema = options.Schema }, logging);
            var epoch = await tableStore.AcquireAsync(stop); // fences any earlier owner of the name
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"owner epoch {epoch}"));
            store = tableStore;
        }
        else
        {
            var fileCheckpoint = new FileCheckpoint(options.Directory!, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithPostgres() }, logging);
            var record = await fileCheckpoint.LoadAsync(PostgresOffset.StreamingSourceType, stop);
            fileSink = FileSink.Open(options.Directory!, (record?.Offset as PostgresOffset)?.Lsn ?? default);
            store = fileCheckpoint;
        }

        try
        {
            var sessionOptions = new PostgresReplicationSessionOptions
            {
                SlotName = options.SlotName,
                PublicationNames = [options.SlotName],
                Acknowledgement = new ReplicationAcknowledgerOptions { IdleAdvanceInterval = options.IdleAdvanceInterval },
            };
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await using var session = await PostgresReplicationSession.OpenAsync(options.ConnectionString, store, sessionOptions, logging, cancellationToken: stop);
                    Console.WriteLine($"ready {session.Validation.Verdict} start {session.StartPosition.Lsn} count {session.StartPosition.CommittedEventCount}");
                    if (options.Sink == SinkKind.Table)
                    {
                        await StreamToTableAsync(session, (PostgresCheckpointStore)store, dataSource, options.Schema, stop);
                    }
                    else
                    {
                        await StreamToFileAsync(session, fileSink!, stop);
                    }

                    Console.WriteLine($"stopped at {session.Acknowledger.Durable}");
                    return 0;
                }
                catch (CheckpointException ex) when (ex.IsTransient && attempt < MaxTransientRetries && !stop.IsCancellationRequested)
                {
                    // A killed predecessor's walsender may hold the slot for a moment: retry.
                    Console.WriteLine($"transient: {ex.ErrorCode}; retrying");
                    await Task.Delay(250, stop);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.WriteLine("stopped");
            return 0;
        }
        catch (CheckpointException ex)
        {
            Console.Error.WriteLine($"refused ({ex.ErrorCode}): {ex.Message}");
            return 1;
        }
        finally
        {
            fileSink?.Dispose();
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    // Exactly once: the sink rows and the checkpoint are written in one transaction; the acknowledgement follows the commit.
    private static async Task StreamToTableAsync(PostgresReplicationSession session, PostgresCheckpointStore store, NpgsqlDataSource dataSource, string schema, CancellationToken stop)
    {
        await using var connection = await dataSource.OpenConnectionAsync(stop);
        NpgsqlTransaction? transaction = null;
        NpgsqlTypes.NpgsqlLogSequenceNumber commitLsn = default;
        ulong rows = 0;
        ulong total = 0;
        try
        {
            await foreach (var message in session.ReadAsync(stop))
            {
                switch (message)
                {
                    case BeginMessage begin:
                        if (stop.IsCancellationRequested)
                        {
                            return; // Npgsql may still hand out buffered messages after cancellation.
                        }

                        transaction = await connection.BeginTransactionAsync(stop);
                        commitLsn = begin.TransactionFinalLsn;
                        rows = 0;
                        break;
                    case InsertMessage insert when transaction is not null:
                        var (id, payload) = await ReadRowAsync(insert, stop);
                        await using (var command = new NpgsqlCommand($"INSERT INTO \"{schema}\".demo_sink (id, payload, commit_lsn) VALUES ($1, $2, $3)", connection, transaction))
                        {
                            command.Parameters.Add(new NpgsqlParameter { Value = id });
                            command.Parameters.Add(new NpgsqlParameter { Value = payload });
                            command.Parameters.Add(new NpgsqlParameter { Value = commitLsn, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.PgLsn });
                            await command.ExecuteNonQueryAsync(stop);
                        }

                        rows++;
                        break;
                    case CommitMessage commit when transaction is not null:
                        var position = session.Acknowledger.MarkProcessed(commit, rows);
                        await store.SaveAsync(transaction, position.Offset, position.CommittedEventCount, stop);
                        await transaction.CommitAsync(stop);
                        await transaction.DisposeAsync();
                        transaction = null;
                        await session.Acknowledger.MarkDurableAsync(position, stop);
                        Progress(ref total, rows, position);
                        break;
                }
            }
        }
        finally
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }
        }
    }

    // Exactly once with a file: lines are fsynced before the checkpoint that covers them is saved.
    private static async Task StreamToFileAsync(PostgresReplicationSession session, FileSink sink, CancellationToken stop)
    {
        ulong rows = 0;
        ulong total = 0;
        var inTransaction = false;
        NpgsqlTypes.NpgsqlLogSequenceNumber commitLsn = default;
        await foreach (var message in session.ReadAsync(stop))
        {
            switch (message)
            {
                case BeginMessage begin:
                    if (stop.IsCancellationRequested)
                    {
                        return;
                    }

                    inTransaction = true;
                    commitLsn = begin.TransactionFinalLsn;
                    rows = 0;
                    break;
                case InsertMessage insert when inTransaction:
                    var (id, payload) = await ReadRowAsync(insert, stop);
                    sink.Append(id, payload, commitLsn);
                    rows++;
                    break;
                case CommitMessage commit when inTransaction:
                    var position = session.Acknowledger.MarkProcessed(commit, rows);
                    sink.Flush();
                    await session.Acknowledger.CheckpointAsync(stop);
                    inTransaction = false;
                    Progress(ref total, rows, position);
                    break;
            }
        }
    }

    private static void Progress(ref ulong total, ulong rows, CheckpointPosition position)
    {
        var before = total;
        total += rows;
        if (before / 100 != total / 100)
        {
            Console.WriteLine($"checkpoint {position.Lsn} count {position.CommittedEventCount}");
        }
    }

    private static async Task<(long Id, string Payload)> ReadRowAsync(InsertMessage insert, CancellationToken cancellationToken)
    {
        long id = 0;
        var payload = string.Empty;
        var column = 0;
        await foreach (var value in insert.NewRow.WithCancellation(cancellationToken))
        {
            // pgoutput sends values in text form (binary needs PostgreSQL 14+ and the binary option).
            var text = value.IsDBNull ? string.Empty : await value.Get<string>(cancellationToken);
            switch (column++)
            {
                case 0:
                    id = long.Parse(text, CultureInfo.InvariantCulture);
                    break;
                case 1:
                    payload = text;
                    break;
            }
        }

        return (id, payload);
    }
}
