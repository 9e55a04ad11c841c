using System.Buffers;
using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A connection to MariaDB/MySQL through MariaDB Connector/C (text protocol), for tests only: production code takes
/// provider-neutral ADO.NET types and gets MySqlConnector there, this class in tests. Behaviour that provider-neutral
/// code can observe follows MySqlConnector's defaults: UPDATE reports found (matched) rows unless
/// <c>Use Affected Rows=true</c>; a command must carry the connection's active transaction; an undefined <c>@name</c>
/// is an error unless <c>Allow User Variables=true</c>; several statements may be sent in one command.
/// </summary>
/// <remarks>
/// Not thread-safe (one operation at a time, like every ADO.NET connection); no pooling; no TLS. Calls block: the
/// <c>*Async</c> methods run them on the thread pool, and a cancelled token kills the running statement with
/// <c>KILL QUERY</c> from a second connection (as MySqlConnector does), surfacing as
/// <see cref="OperationCanceledException"/>. <see cref="DbCommand.CommandTimeout"/> is not enforced.
/// </remarks>
public sealed class MariaDbTestConnection : DbConnection
{
    private readonly Lock _nativeCallLock = new();
    private string _connectionString = string.Empty;
    private MariaDbConnectionSettings? _settings;
    private MariaDbHandle? _handle;
    private ConnectionState _state = ConnectionState.Closed;
    private string _database = string.Empty;
    private string _serverVersion = string.Empty;
    private ulong _threadId;
    private MariaDbTestCommand? _executingCommand;

    /// <summary>Creates a closed connection with no connection string.</summary>
    public MariaDbTestConnection()
    {
    }

    /// <summary>Creates a closed connection.</summary>
    /// <param name="connectionString">For example <c>Server=127.0.0.1;Port=3306;User=cdc;Password=…;Database=cdctest</c>.</param>
    public MariaDbTestConnection(string connectionString)
    {
        ConnectionString = connectionString;
    }

    /// <inheritdoc />
    [AllowNull]
    public override string ConnectionString
    {
        get => _connectionString;
        set
        {
            if (_state != ConnectionState.Closed)
            {
                throw new InvalidOperationException("The connection string cannot be changed while the connection is open.");
            }

            var text = value ?? string.Empty;
            _settings = text.Length == 0 ? null : MariaDbConnectionSettings.Parse(text);
            _connectionString = text;
            _database = _settings?.Database ?? string.Empty;
        }
    }

    /// <inheritdoc />
    public override string Database => _database;

    /// <inheritdoc />
    public override string DataSource => _settings?.Socket ?? _settings?.Host ?? string.Empty;

    /// <summary>The server's version string, e.g. <c>10.11.19-MariaDB-0+deb12u1-log</c> (empty until opened).</summary>
    public override string ServerVersion => _serverVersion;

    /// <inheritdoc />
    public override ConnectionState State => _state;

    /// <summary>The server's id for this connection (<c>CONNECTION_ID()</c>), e.g. for <c>KILL</c> in failure tests.</summary>
    public ulong ServerThreadId => _threadId;

    internal MariaDbConnectionSettings Settings =>
        _settings ?? throw new InvalidOperationException("The ConnectionString property has not been initialized.");

    internal MariaDbTestTransaction? CurrentTransaction { get; set; }

    internal MariaDbTestDataReader? ActiveReader { get; set; }

    internal MariaDbHandle Handle =>
        _handle is { IsInvalid: false } && _state == ConnectionState.Open
            ? _handle
            : throw new InvalidOperationException($"Connection must be Open; current state is {_state}.");

    /// <summary>Creates a command on this connection.</summary>
    public new MariaDbTestCommand CreateCommand() => new() { Connection = this };

    /// <summary>Begins a transaction at the server's default isolation level (REPEATABLE READ).</summary>
    public new MariaDbTestTransaction BeginTransaction() => (MariaDbTestTransaction)BeginDbTransaction(IsolationLevel.Unspecified);

    /// <summary>Begins a transaction at <paramref name="isolationLevel"/>.</summary>
    public new MariaDbTestTransaction BeginTransaction(IsolationLevel isolationLevel) =>
        (MariaDbTestTransaction)BeginDbTransaction(isolationLevel);

    /// <inheritdoc />
    public override void Open()
    {
        if (_state != ConnectionState.Closed)
        {
            throw new InvalidOperationException($"The connection is already {_state}.");
        }

        var settings = Settings;
        MariaDbNative.EnsureInitialized();
        _state = ConnectionState.Connecting;
        var handle = MariaDbNative.mysql_init(IntPtr.Zero);
        try
        {
            if (handle.IsInvalid)
            {
                throw new MariaDbTestException(2008, "HY000", "mysql_init failed (out of memory).");
            }

            Connect(handle, settings);
            _handle = handle;
            _threadId = MariaDbNative.mysql_thread_id(handle).Value;
            _serverVersion = Marshal.PtrToStringUTF8(MariaDbNative.mysql_get_server_info(handle)) ?? string.Empty;
            _database = settings.Database ?? string.Empty;
            _state = ConnectionState.Open;
        }
        catch
        {
            handle.Dispose();
            _state = ConnectionState.Closed;
            throw;
        }

        OnStateChange(new StateChangeEventArgs(ConnectionState.Closed, ConnectionState.Open));
    }

    /// <inheritdoc />
    public override Task OpenAsync(CancellationToken cancellationToken) =>
        MariaDbAsync.RunAsync(
            () =>
            {
                Open();
                return true;
            },
            cancel: null,
            cancellationToken);

    /// <inheritdoc />
    public override void Close()
    {
        if (_state == ConnectionState.Closed)
        {
            return;
        }

        if (ActiveReader is { } reader)
        {
            reader.Abandon();
        }

        if (CurrentTransaction is { } transaction)
        {
            // The server rolls back an open transaction when the session ends.
            transaction.MarkCompleted();
        }

        _handle?.Dispose();
        _handle = null;
        _threadId = 0;
        var previous = _state;
        _state = ConnectionState.Closed;
        OnStateChange(new StateChangeEventArgs(previous, ConnectionState.Closed));
    }

    /// <inheritdoc />
    public override void ChangeDatabase(string databaseName)
    {
        ArgumentException.ThrowIfNullOrEmpty(databaseName);
        ExecuteInternal("USE `" + databaseName.Replace("`", "``", StringComparison.Ordinal) + "`");
        _database = databaseName;
    }

    /// <inheritdoc />
    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel)
    {
        _ = Handle;
        if (CurrentTransaction is not null)
        {
            throw new InvalidOperationException("Transactions may not be nested.");
        }

        // MySqlConnector treats Unspecified as the server default, REPEATABLE READ, and says so.
        var effective = isolationLevel == IsolationLevel.Unspecified ? IsolationLevel.RepeatableRead : isolationLevel;
        var level = effective switch
        {
            IsolationLevel.ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel.ReadCommitted => "READ COMMITTED",
            IsolationLevel.RepeatableRead or IsolationLevel.Snapshot => "REPEATABLE READ",
            IsolationLevel.Serializable => "SERIALIZABLE",
            _ => throw new NotSupportedException($"IsolationLevel {isolationLevel} is not supported by MariaDB."),
        };
        var start = effective == IsolationLevel.Snapshot ? "START TRANSACTION WITH CONSISTENT SNAPSHOT" : "START TRANSACTION";
        ExecuteInternal($"SET TRANSACTION ISOLATION LEVEL {level}; {start}");
        var transaction = new MariaDbTestTransaction(this, effective);
        CurrentTransaction = transaction;
        return transaction;
    }

    /// <inheritdoc />
    protected override ValueTask<DbTransaction> BeginDbTransactionAsync(IsolationLevel isolationLevel, CancellationToken cancellationToken) =>
        new(MariaDbAsync.RunAsync(() => BeginDbTransaction(isolationLevel), cancel: null, cancellationToken));

    /// <inheritdoc />
    protected override DbCommand CreateDbCommand() => CreateCommand();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Close();
        }

        base.Dispose(disposing);
    }

    /// <summary>Runs <paramref name="sql"/> (no parameters), discarding any rows.</summary>
    internal void ExecuteInternal(string sql)
    {
        if (ActiveReader is not null)
        {
            throw new InvalidOperationException("There is already an open DataReader associated with this Connection which must be closed first.");
        }

        SendQuery(System.Text.Encoding.UTF8.GetBytes(sql));
        while (true)
        {
            _ = ReadResult(out _);
            if (!NextResult())
            {
                return;
            }
        }
    }

    /// <summary>Sends one query (possibly several statements); throws the server's error for the first statement.</summary>
    internal unsafe void SendQuery(byte[] sql)
    {
        var handle = Handle;
        fixed (byte* p = sql)
        {
            if (MariaDbNative.mysql_real_query(handle, p, new CULong((nuint)sql.Length)) != 0)
            {
                throw CreateException(handle, prefix: null);
            }
        }
    }

    /// <summary>
    /// Reads the current result: its rows when it has columns, otherwise <see langword="null"/> and the statement's
    /// affected (or, by default, found) row count.
    /// </summary>
    internal unsafe MariaDbResultSet? ReadResult(out long affectedRows)
    {
        var handle = Handle;
        affectedRows = 0;
        if (MariaDbNative.mysql_field_count(handle) == 0)
        {
            affectedRows = (long)MariaDbNative.mysql_affected_rows(handle);
            return null;
        }

        var result = MariaDbNative.mysql_store_result(handle);
        if (result == IntPtr.Zero)
        {
            throw CreateException(handle, prefix: null);
        }

        try
        {
            var fieldCount = (int)MariaDbNative.mysql_num_fields(result);
            var fields = MariaDbNative.mysql_fetch_fields(result);
            var columns = new MariaDbColumn[fieldCount];
            for (var i = 0; i < fieldCount; i++)
            {
                var f = fields[i];
                columns[i] = new MariaDbColumn(
                    System.Text.Encoding.UTF8.GetString(f.Name, (int)f.NameLength),
                    (MariaDbFieldType)f.Type,
                    f.Flags,
                    f.CharsetNumber,
                    (long)f.Length.Value);
            }

            var rows = new List<byte[]?[]>();
            byte** row;
            while ((row = MariaDbNative.mysql_fetch_row(result)) != null)
            {
                var lengths = MariaDbNative.mysql_fetch_lengths(result);
                var values = new byte[]?[fieldCount];
                for (var i = 0; i < fieldCount; i++)
                {
                    values[i] = row[i] == null ? null : new ReadOnlySpan<byte>(row[i], checked((int)lengths[i].Value)).ToArray();
                }

                rows.Add(values);
            }

            return new MariaDbResultSet(columns, rows);
        }
        finally
        {
            MariaDbNative.mysql_free_result(result);
        }
    }

    /// <summary>Moves to the next result of a multi-statement query; <see langword="false"/> when there is none.</summary>
    internal bool NextResult()
    {
        var handle = Handle;
        return MariaDbNative.mysql_next_result(handle) switch
        {
            0 => true,
            -1 => false,
            _ => throw CreateException(handle, prefix: null),
        };
    }

    /// <summary><c>mysql_real_escape_string</c>: honours the session's character set and NO_BACKSLASH_ESCAPES.</summary>
    internal unsafe void Escape(ReadOnlySpan<byte> utf8, ArrayBufferWriter<byte> output)
    {
        var handle = Handle;
        var span = output.GetSpan((utf8.Length * 2) + 1);
        fixed (byte* from = utf8)
        fixed (byte* to = span)
        {
            var written = MariaDbNative.mysql_real_escape_string(handle, to, from, new CULong((nuint)utf8.Length)).Value;
            if (written == unchecked((nuint)(-1)))
            {
                throw new MariaDbTestException("mysql_real_escape_string failed.");
            }

            output.Advance((int)written);
        }
    }

    /// <summary>Marks <paramref name="command"/> as running a blocking call, so <see cref="CancelCommand"/> can find it.</summary>
    internal void EnterNativeCall(MariaDbTestCommand command)
    {
        lock (_nativeCallLock)
        {
            _executingCommand = command;
        }
    }

    internal void ExitNativeCall()
    {
        lock (_nativeCallLock)
        {
            _executingCommand = null;
        }
    }

    /// <summary>
    /// Kills the statement <paramref name="command"/> is running, from a second connection; <see langword="true"/> when a
    /// kill was sent. Holding the lock while killing keeps the kill from landing on a later statement. Failures are
    /// ignored, as <see cref="DbCommand.Cancel"/> requires.
    /// </summary>
    internal bool CancelCommand(MariaDbTestCommand command)
    {
        lock (_nativeCallLock)
        {
            if (!ReferenceEquals(_executingCommand, command) || _threadId == 0)
            {
                return false;
            }

            try
            {
                using var killer = new MariaDbTestConnection { _settings = Settings.WithDatabase(null), _connectionString = _connectionString };
                killer.Open();
                killer.ExecuteInternal("KILL QUERY " + _threadId.ToString(CultureInfo.InvariantCulture));
                return true;
            }
            catch (MariaDbTestException)
            {
                // Best effort: the statement may have finished, or the server may be gone.
                return false;
            }
        }
    }

    internal static MariaDbTestException CreateException(MariaDbHandle handle, string? prefix)
    {
        var number = (int)MariaDbNative.mysql_errno(handle);
        var message = Marshal.PtrToStringUTF8(MariaDbNative.mysql_error(handle)) ?? string.Empty;
        var sqlState = Marshal.PtrToStringUTF8(MariaDbNative.mysql_sqlstate(handle));
        return new MariaDbTestException(number, sqlState, prefix is null ? message : prefix + message);
    }

    private static unsafe void Connect(MariaDbHandle handle, MariaDbConnectionSettings settings)
    {
        var timeout = settings.ConnectTimeoutSeconds;
        var useSocket = settings.Socket is not null && (settings.Host is null || settings.Host == "localhost");
        var protocol = useSocket ? MariaDbNative.MYSQL_PROTOCOL_SOCKET : MariaDbNative.MYSQL_PROTOCOL_TCP;
        fixed (byte* charset = "utf8mb4\0"u8)
        {
            if (MariaDbNative.mysql_options(handle, MariaDbNative.MYSQL_OPT_CONNECT_TIMEOUT, &timeout) != 0
                || MariaDbNative.mysql_options(handle, MariaDbNative.MYSQL_SET_CHARSET_NAME, charset) != 0
                || MariaDbNative.mysql_options(handle, MariaDbNative.MYSQL_OPT_PROTOCOL, &protocol) != 0)
            {
                throw CreateException(handle, "mysql_options failed: ");
            }
        }

        var flags = MariaDbNative.CLIENT_MULTI_STATEMENTS | MariaDbNative.CLIENT_MULTI_RESULTS;
        if (!settings.UseAffectedRows)
        {
            flags |= MariaDbNative.CLIENT_FOUND_ROWS;
        }

        var connected = MariaDbNative.mysql_real_connect(
            handle,
            useSocket ? "localhost" : settings.Host,
            settings.UserId,
            settings.Password,
            settings.Database,
            useSocket ? 0 : settings.Port,
            useSocket ? settings.Socket : null,
            new CULong((nuint)flags));
        if (connected == IntPtr.Zero)
        {
            throw CreateException(handle, $"Cannot connect to MariaDB at {settings.Describe()}: ");
        }
    }
}
