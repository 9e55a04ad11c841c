using System.Globalization;
using Cdc.Checkpoint;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Validation;
using Cdc.Checkpoint.Offsets;
using MySqlConnector;

namespace BinlogTailer;

/// <summary>Options of a <see cref="Tailer"/>.</summary>
public sealed class TailerOptions
{
    /// <summary>How long to wait when the binlog has no new event. Default 100 ms.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Events read per <c>SHOW BINLOG EVENTS</c> (its LIMIT). Default 500.</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>The resume policy; the tailer always adds <c>RequireBinlogPosition</c> because it reads by file and position.</summary>
    public MySqlResumeValidationOptions Validation { get; init; } = new();
}

/// <summary>A transaction the tailer saw commit.</summary>
/// <param name="Gtid">The GTID as the server prints it (<c>0-1-5</c>, <c>uuid:23</c>), or <c>anonymous</c>.</param>
/// <param name="End">The binlog position right after the transaction.</param>
/// <param name="Count">How many transactions the checkpoint has counted, this one included.</param>
public sealed record TailedTransaction(string Gtid, BinlogPosition End, ulong Count);

/// <summary>
/// Follows a MariaDB or MySQL binlog by polling <c>SHOW BINLOG EVENTS IN file FROM position LIMIT n</c> through
/// MySqlConnector. Tracks the GTID state and the binlog position of every transaction boundary (<c>Xid</c>, a
/// <c>COMMIT</c> query, or the one query of a standalone statement), follows <c>Rotate</c> events and file ends, and
/// after each batch saves the last boundary to a <see cref="FileCheckpoint"/> as a typed <see cref="MariaDbOffset"/> or
/// <see cref="MySqlOffset"/>. On start it validates the checkpoint against the server and refuses to resume from a
/// position that is gone or belongs to another history.
/// </summary>
/// <remarks>
/// Delivery is at-least-once: <see cref="Transaction"/> (and the <c>TX</c> line) comes before the checkpoint that
/// covers it, so a crash repeats at most the transactions of the last batch and never skips one.
/// </remarks>
public sealed class Tailer : IAsyncDisposable
{
    private readonly MySqlDataSource _dataSource;
    private readonly FileCheckpoint _checkpoint;
    private readonly TextWriter _output;
    private readonly TailerOptions _options;

    private MySqlServerFacts? _server;
    private string _file = string.Empty;
    private ulong _readPosition;
    private ulong _count;
    private MariaDbGtidPosition _mariaDbPosition = MariaDbGtidPosition.Empty;
    private GtidSet? _mySqlGtids;
    private string? _pendingGtid;
    private MariaDbGtid _pendingMariaDb;
    private MySqlGtid? _pendingMySql;
    private bool _inTransaction;
    private CheckpointOffset? _committed;
    private CheckpointOffset? _saved;

    /// <summary>Creates a tailer. Nothing is read until <see cref="RunAsync"/>.</summary>
    /// <param name="dataSource">Connections to the server.</param>
    /// <param name="checkpointDirectory">The FileCheckpoint directory (created when missing).</param>
    /// <param name="output">Where progress lines go: <c>VALIDATION</c>, <c>READY</c>, <c>TX</c>, <c>CHECKPOINT</c>.</param>
    /// <param name="options">Options.</param>
    public Tailer(MySqlDataSource dataSource, string checkpointDirectory, TextWriter output, TailerOptions? options = null)
    {
        _dataSource = dataSource;
        _output = output;
        _options = options ?? new TailerOptions();
        _checkpoint = new FileCheckpoint(checkpointDirectory, new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.WithMySql(), CreateDirectory = true });
    }

    /// <summary>Raised once the checkpoint is validated and the starting point is known (the <c>READY</c> line).</summary>
    public event Action<CheckpointOffset>? Started;

    /// <summary>Raised for every committed transaction, before it is checkpointed.</summary>
    public event Action<TailedTransaction>? Transaction;

    /// <summary>Raised after each durable checkpoint.</summary>
    public event Action<CheckpointOffset, ulong>? Checkpointed;

    /// <summary>The last transaction boundary seen (checkpointed or about to be).</summary>
    public CheckpointOffset? Position => _committed;

    /// <summary>Validates the checkpoint, then follows the binlog until <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <param name="cancellationToken">Stops the tailer (the last batch's checkpoint is saved first).</param>
    /// <returns>A task that ends with <see cref="OperationCanceledException"/> when cancelled.</returns>
    /// <exception cref="CheckpointException">The checkpoint cannot be resumed on this server (the verdict's message says why and what to do).</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            var events = await ReadEventsAsync(connection, cancellationToken);
            foreach (var binlogEvent in events)
            {
                Apply(binlogEvent);
            }

            await CheckpointAsync(cancellationToken);
            if (events.Count == 0)
            {
                if (await NextFileAsync(connection, cancellationToken) is { } next)
                {
                    _file = next;
                    _readPosition = 4;
                    continue;
                }

                await Task.Delay(_options.PollInterval, cancellationToken);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _checkpoint.DisposeAsync();

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var record = await _checkpoint.LoadLatestAsync(cancellationToken);
        var validator = new MySqlResumeValidator(_dataSource, new MySqlResumeValidationOptions
        {
            AcceptPurgedTransactions = _options.Validation.AcceptPurgedTransactions,
            IgnoreMissingDomains = _options.Validation.IgnoreMissingDomains,
            RequireGtidStrictMode = _options.Validation.RequireGtidStrictMode,
            RequireBinlogPosition = true,
        });
        var result = await validator.ValidateAsync(record?.Offset, cancellationToken);
        await _output.WriteLineAsync($"VALIDATION {result.Verdict}: {result.Message}");
        result.ThrowIfRefused();
        _server = result.Server;
        if (result.GapAccepted)
        {
            // The opt-in accepted purged transactions: continue from the oldest binlog file there is.
            await StartFreshAsync(atOldest: true, record?.CommittedEventCount ?? 0, cancellationToken);
        }
        else if (record is null)
        {
            await StartFreshAsync(atOldest: false, 0, cancellationToken);
        }
        else
        {
            Resume(record);
        }

        await _output.WriteLineAsync($"READY {_committed} (count {_count})");
        Started?.Invoke(_committed!);
    }

    private void Resume(CheckpointRecord record)
    {
        _count = record.CommittedEventCount;
        _committed = _saved = record.Offset;
        switch (record.Offset)
        {
            case MariaDbOffset { BinlogPosition: { } binlog } mariadb:
                _mariaDbPosition = mariadb.GtidPosition ?? MariaDbGtidPosition.Empty;
                (_file, _readPosition) = (binlog.FileName, binlog.Position);
                break;
            case MySqlOffset { BinlogPosition: { } binlog } mysql:
                _mySqlGtids = mysql.GtidSet;
                (_file, _readPosition) = (binlog.FileName, binlog.Position);
                break;
            default:
                throw new CheckpointException(CheckpointErrorCode.Misconfigured, $"Checkpoint {record.Offset} has no binlog position; this tailer resumes by file and position.");
        }
    }

    private async Task StartFreshAsync(bool atOldest, ulong count, CancellationToken cancellationToken)
    {
        var server = _server!;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        string file;
        ulong position;
        string? executed = null;
        if (atOldest)
        {
            (file, position) = (server.BinlogFiles[0].Name, 4);
        }
        else
        {
            var status = server.Flavor == MySqlServerFlavor.MySql && server.Version >= new Version(8, 2) ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS";
            var rows = await QueryAsync(connection, status, cancellationToken);
            file = Convert.ToString(rows[0][0], CultureInfo.InvariantCulture)!;
            position = Convert.ToUInt64(rows[0][1], CultureInfo.InvariantCulture);
            executed = rows[0].Length > 4 ? Convert.ToString(rows[0][4], CultureInfo.InvariantCulture) : null;
        }

        (_file, _readPosition, _count) = (file, position, count);
        if (server.Flavor == MySqlServerFlavor.MariaDb)
        {
            // The GTID position exactly at that file and position, so the pair is consistent even under concurrent writes.
            var rows = await QueryAsync(connection, "SELECT BINLOG_GTID_POS(@file, @position)", cancellationToken, ("@file", file), ("@position", position));
            _mariaDbPosition = MariaDbGtidPosition.Parse(Convert.ToString(rows[0][0], CultureInfo.InvariantCulture) ?? string.Empty);
            _committed = new MariaDbOffset(_mariaDbPosition, new BinlogPosition(file, position), server.ServerId);
        }
        else
        {
            var gtidMode = string.Equals(server.GtidMode, "ON", StringComparison.OrdinalIgnoreCase);
            _mySqlGtids = !gtidMode ? null : atOldest ? server.GtidPurged ?? GtidSet.Empty : GtidSet.Parse(executed ?? string.Empty);
            _committed = new MySqlOffset(_mySqlGtids, new BinlogPosition(file, position), server.ServerUuid, server.ServerId);
        }

        // Record the starting point at once: a crash before the first transaction must not lose it.
        await SaveAsync(_committed, rewind: atOldest, cancellationToken);
    }

    private async Task<List<BinlogEvent>> ReadEventsAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(
            connection,
            "SHOW BINLOG EVENTS IN @file FROM @position LIMIT @limit",
            cancellationToken,
            ("@file", _file),
            ("@position", _readPosition),
            ("@limit", _options.BatchSize));
        return rows.Select(row => new BinlogEvent(
                Convert.ToString(row[0], CultureInfo.InvariantCulture)!,
                Convert.ToUInt64(row[1], CultureInfo.InvariantCulture),
                Convert.ToString(row[2], CultureInfo.InvariantCulture)!,
                Convert.ToUInt32(row[3], CultureInfo.InvariantCulture),
                Convert.ToUInt64(row[4], CultureInfo.InvariantCulture),
                Convert.ToString(row[5], CultureInfo.InvariantCulture) ?? string.Empty))
            .ToList();
    }

    private void Apply(BinlogEvent e)
    {
        _readPosition = e.EndPosition;
        switch (e.EventType)
        {
            case "Gtid" when _server!.Flavor == MySqlServerFlavor.MariaDb:
                if (BinlogEventText.TryParseMariaDbGtid(e.Info, out var mariaDbGtid, out var standalone))
                {
                    _pendingMariaDb = mariaDbGtid;
                    _pendingGtid = mariaDbGtid.ToString();
                    _inTransaction = !standalone;
                }

                break;
            case "Gtid" or "Gtid_tagged": // MySQL 8.3+ writes tagged GTIDs in their own event type
                if (BinlogEventText.TryParseMySqlGtid(e.Info, out var mySqlGtid))
                {
                    _pendingMySql = mySqlGtid;
                    _pendingGtid = mySqlGtid.ToString();
                    _inTransaction = false;
                }

                break;
            case "Anonymous_Gtid":
                _pendingMySql = null;
                _pendingGtid = "anonymous";
                _inTransaction = false;
                break;
            case "Query" when _pendingGtid is not null:
                if (!_inTransaction && e.Info.Trim().Equals("BEGIN", StringComparison.OrdinalIgnoreCase))
                {
                    _inTransaction = true; // MySQL: the BEGIN after the Gtid event
                }
                else if (!_inTransaction || BinlogEventText.EndsTransaction(e.Info))
                {
                    Commit(e);
                }

                break;
            case "Xid" or "XA_prepare" when _pendingGtid is not null:
                Commit(e);
                break;
            case "Rotate":
                if (BinlogEventText.TryParseRotate(e.Info, out var next, out var position))
                {
                    (_file, _readPosition) = (next, position);
                }

                break;
        }
    }

    private void Commit(BinlogEvent e)
    {
        var end = new BinlogPosition(e.LogName, e.EndPosition);
        var server = _server!;
        if (server.Flavor == MySqlServerFlavor.MariaDb)
        {
            _mariaDbPosition = _mariaDbPosition.With(_pendingMariaDb);
            _committed = new MariaDbOffset(_mariaDbPosition, end, server.ServerId);
        }
        else
        {
            if (_mySqlGtids is not null && _pendingMySql is { } gtid)
            {
                _mySqlGtids = _mySqlGtids.Add(gtid.SourceId, gtid.Tag, new GtidInterval(gtid.TransactionNumber, gtid.TransactionNumber));
            }

            _committed = new MySqlOffset(_mySqlGtids, end, server.ServerUuid, server.ServerId);
        }

        _count++;
        var transaction = new TailedTransaction(_pendingGtid!, end, _count);
        _output.WriteLine($"TX {transaction.Gtid} {end}");
        Transaction?.Invoke(transaction);
        (_pendingGtid, _pendingMySql, _inTransaction) = (null, null, false);
    }

    private async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        if (_committed is not null && !ReferenceEquals(_committed, _saved))
        {
            // Saved even when cancellation is pending: the batch is processed, so record it.
            await SaveAsync(_committed, rewind: false, CancellationToken.None);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task SaveAsync(CheckpointOffset offset, bool rewind, CancellationToken cancellationToken)
    {
        if (rewind)
        {
            await _checkpoint.RewindAsync(offset, _count, "resume validation accepted purged transactions (AcceptPurgedTransactions)", cancellationToken);
        }
        else
        {
            await _checkpoint.SaveAsync(offset, _count, cancellationToken);
        }

        _saved = offset;
        await _output.WriteLineAsync($"CHECKPOINT {_count} {offset}");
        Checkpointed?.Invoke(offset, _count);
    }

    /// <summary>The file after the current one, once the server has moved past it (a file ends without a Rotate event when the server stopped).</summary>
    private async Task<string?> NextFileAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connection, "SHOW BINARY LOGS", cancellationToken);
        var names = rows.Select(r => Convert.ToString(r[0], CultureInfo.InvariantCulture)!).ToList();
        var index = names.IndexOf(_file);
        if (index < 0 || index == names.Count - 1)
        {
            return null;
        }

        // A non-final file is complete; make sure everything in it was read before moving on.
        var size = Convert.ToUInt64(rows[index][1], CultureInfo.InvariantCulture);
        return _readPosition >= size ? names[index + 1] : null;
    }

    private static async Task<List<object?[]>> QueryAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = new MySqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<object?[]>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }
}
