using System.Data.Common;
using System.Diagnostics;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// A table store's save paths: the one-statement save when the row is known, the full path under the fence lock (in a
/// transaction of the store's own or the caller's), the rewind with its audit row, and the save metrics, recorded here only.
/// </summary>
internal sealed class TableStoreWriter
{
    private readonly DbDataSource _dataSource;
    private readonly ITableDialect _dialect;
    private readonly TableStoreErrors _errors;
    private readonly TableStoreLog _log;
    private readonly TimeProvider _timeProvider;
    private readonly TableFence _fence;
    private readonly KnownRows _known;
    private readonly TableRowParser _parser;
    private readonly string _name;
    private readonly string _storeTag;

    public TableStoreWriter(
        DbDataSource dataSource,
        ITableDialect dialect,
        TableStoreErrors errors,
        TableStoreLog log,
        TimeProvider timeProvider,
        TableFence fence,
        KnownRows known,
        TableRowParser parser,
        string name,
        string storeTag)
    {
        _dataSource = dataSource;
        _dialect = dialect;
        _errors = errors;
        _log = log;
        _timeProvider = timeProvider;
        _fence = fence;
        _known = known;
        _parser = parser;
        _name = name;
        _storeTag = storeTag;
    }

    /// <summary>A save (<paramref name="reason"/> <see langword="null"/>) or a rewind in a transaction of its own.</summary>
    public async Task WriteInOwnTransactionAsync(CheckpointOffset offset, ulong committedEventCount, string? reason, CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType, nameof(offset));
        var epoch = await _fence.EnsureAsync(cancellationToken).ConfigureAwait(false);
        await MeasureAsync(
            offset,
            async () =>
            {
                if (reason is null && await TrySaveKnownAsync(epoch, offset, committedEventCount, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                _known.Forget(offset.SourceType);
                var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using (transaction.ConfigureAwait(false))
                    {
                        // A save may write ahead of its guards (the dialect decides); the transaction is ours, so a refusal
                        // or a repeat rolls the write back (an exception disposes the transaction uncommitted). A rewind has
                        // no guards but an audit row, which needs the old row first.
                        if (await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason, writeAhead: reason is null, cancellationToken).ConfigureAwait(false))
                        {
                            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                        }

                        // Committed (or a repeat of what is stored): the row now holds exactly this offset and count.
                        _known.Remember(offset, committedEventCount, offset.ToJsonString());
                    }
                }
            }).ConfigureAwait(false);
    }

    /// <summary>A save in the caller's transaction on <paramref name="connection"/>: the full path, never ahead of the guards.</summary>
    public async Task SaveInTransactionAsync(DbConnection connection, DbTransaction transaction, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken)
    {
        var epoch = await _fence.EnsureAsync(cancellationToken).ConfigureAwait(false);
        await MeasureAsync(
            offset,
            async () =>
            {
                // Never ahead of the guards here: a refused save must leave nothing in a transaction the caller may
                // commit. Whether the caller commits is unknown, so what the row holds is no longer known either.
                _known.Forget(offset.SourceType);
                _ = await WriteAsync(connection, transaction, epoch, offset, committedEventCount, reason: null, writeAhead: false, cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    // Metrics of every save and rewind, recorded here only; a provider's error becomes a typed CheckpointException.
    private async Task MeasureAsync(CheckpointOffset offset, Func<Task> save)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await save().ConfigureAwait(false);
            CheckpointMetrics.RecordSave(_storeTag, offset.SourceType, started, null);
        }
        catch (CheckpointException ex)
        {
            CheckpointMetrics.RecordSave(_storeTag, offset.SourceType, started, ex.ErrorCode);
            throw;
        }
        catch (DbException ex)
        {
            var failure = _errors.SaveFailed(offset, ex);
            CheckpointMetrics.RecordSave(_storeTag, offset.SourceType, started, failure.ErrorCode);
            throw failure;
        }
    }

    // The one-statement save. When this instance knows what the row holds and the progress guards accept the new offset
    // against that, a single autocommitted statement writes it (see TableCheckpointStore.TryUpdateKnownRowAsync for its
    // conditions). It reports false, having written nothing, when it does not apply: no row known, a guard refusal or a
    // repeat (the full path then judges the row as stored and words the error), or nothing matched (the row or the fence
    // changed behind this instance's back); the full path then decides.
    private async Task<bool> TrySaveKnownAsync(long epoch, CheckpointOffset offset, ulong committedEventCount, CancellationToken cancellationToken)
    {
        if (!_known.TryGet(offset.SourceType, out var known))
        {
            return false;
        }

        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check(_errors.Where, new CheckpointRecord(offset.SourceType, known.Count, known.Offset), offset, committedEventCount);
        }
        catch (CheckpointException)
        {
            return false;
        }

        if (verdict != ProgressGuard.Verdict.Advance)
        {
            return false;
        }

        var write = NewWrite(offset, committedEventCount, epoch);
        (bool Written, ulong? Sequence) result;
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            result = await _dialect.TryUpdateKnownRowAsync(connection, write, known.Json, known.Count, cancellationToken).ConfigureAwait(false);
        }

        if (!result.Written)
        {
            _known.Forget(offset.SourceType);
            return false;
        }

        _known.Remember(offset, committedEventCount, write.OffsetJson);
        _log.Saved(_name, offset.SourceType, offset, committedEventCount, epoch, result.Sequence);
        return true;
    }

    // The full path: writes the row after the fence check and (unless rewinding) the progress guards. Returns false for an
    // idempotent repeat: nothing is to be written, and a row the dialect wrote ahead must be rolled back by the caller, as
    // must everything after an exception.
    private async Task<bool> WriteAsync(
        DbConnection connection,
        DbTransaction transaction,
        long epoch,
        CheckpointOffset offset,
        ulong committedEventCount,
        string? reason,
        bool writeAhead,
        CancellationToken cancellationToken)
    {
        SourceTypeName.Validate(offset.SourceType, nameof(offset));
        var write = NewWrite(offset, committedEventCount, epoch);
        TableLock locked;
        try
        {
            locked = await _dialect.LockAsync(connection, transaction, offset.SourceType, writeAhead ? write : null, cancellationToken).ConfigureAwait(false);
        }
        catch (FormatException ex)
        {
            throw _errors.CorruptFence(ex.Message);
        }

        _fence.Check(epoch, locked.Epoch);
        var existing = locked.Row is { } row ? _parser.Parse(row) : null;
        if (reason is not null)
        {
            var audit = new TableAuditWrite(existing?.Offset.ToJsonString(), existing?.CommittedEventCount, reason);
            _ = await _dialect.WriteRowAsync(connection, transaction, write, locked, audit, cancellationToken).ConfigureAwait(false);
            _log.Rewound(_name, offset.SourceType, existing?.Offset, existing?.CommittedEventCount, offset, committedEventCount, reason);
            return true;
        }

        ProgressGuard.Verdict verdict;
        try
        {
            verdict = ProgressGuard.Check(_errors.Where, existing, offset, committedEventCount);
        }
        catch (CheckpointException ex)
        {
            _log.SaveRefused(_name, offset.SourceType, ex.Message);
            throw;
        }

        if (verdict == ProgressGuard.Verdict.Repeat)
        {
            return false;
        }

        var sequence = locked.WroteAhead ? null : await _dialect.WriteRowAsync(connection, transaction, write, locked, null, cancellationToken).ConfigureAwait(false);
        _log.Saved(_name, offset.SourceType, offset, committedEventCount, epoch, sequence);
        return true;
    }

    private TableRowWrite NewWrite(CheckpointOffset offset, ulong committedEventCount, long epoch) =>
        new(_name, offset.SourceType, offset.ToJsonString(), committedEventCount, epoch, TableRowParser.RowFormatVersion, _timeProvider.GetUtcNow());
}
