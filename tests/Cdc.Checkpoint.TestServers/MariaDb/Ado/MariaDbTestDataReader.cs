using System.Collections;
using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// Reads the result sets of a <see cref="MariaDbTestCommand"/>. Each result set is read into memory when reached
/// (<c>mysql_store_result</c>), so <see cref="Read"/> never blocks; <see cref="NextResult"/> may. Typed getters convert
/// like MySqlConnector: <see cref="GetValue"/> returns the column's CLR type (see <see cref="GetFieldType"/>); integer
/// getters accept any integer column (checked, <see cref="OverflowException"/> when out of range); a text column is
/// not silently parsed as a number, nor a binary column decoded as text (<see cref="InvalidCastException"/>).
/// </summary>
[SuppressMessage("Design", "CA1010", Justification = "The ADO.NET base class defines the non-generic shape; like other providers we keep it.")]
public sealed class MariaDbTestDataReader : DbDataReader
{
    private readonly MariaDbTestCommand _command;
    private readonly MariaDbTestConnection _connection;
    private readonly CommandBehavior _behavior;
    private MariaDbResultSet? _current;
    private int _row = -1;
    private bool _noMoreResults;
    private bool _closed;
    private int _recordsAffected = -1;

    private MariaDbTestDataReader(MariaDbTestCommand command, MariaDbTestConnection connection, CommandBehavior behavior)
    {
        _command = command;
        _connection = connection;
        _behavior = behavior;
    }

    /// <inheritdoc />
    public override int Depth => 0;

    /// <inheritdoc />
    public override int FieldCount => _current?.Columns.Length ?? 0;

    /// <inheritdoc />
    public override bool HasRows => _current is { Rows.Count: > 0 };

    /// <inheritdoc />
    public override bool IsClosed => _closed;

    /// <summary>Sum of the row counts of the statements without result sets; -1 when there were none.</summary>
    public override int RecordsAffected => _recordsAffected;

    /// <inheritdoc />
    public override object this[int ordinal] => GetValue(ordinal);

    /// <inheritdoc />
    public override object this[string name] => GetValue(GetOrdinal(name));

    /// <inheritdoc />
    public override bool Read()
    {
        ThrowIfClosed();
        if (_current is null || _row >= _current.Rows.Count)
        {
            return false;
        }

        _row++;
        return _row < _current.Rows.Count;
    }

    /// <inheritdoc />
    public override bool NextResult()
    {
        ThrowIfClosed();
        _current = null;
        _row = -1;
        if (_noMoreResults)
        {
            return false;
        }

        _connection.EnterNativeCall(_command);
        try
        {
            if (!_connection.NextResult())
            {
                _noMoreResults = true;
                return false;
            }

            return AdvanceToResultSet();
        }
        finally
        {
            _connection.ExitNativeCall();
        }
    }

    /// <inheritdoc />
    public override Task<bool> NextResultAsync(CancellationToken cancellationToken) =>
        MariaDbAsync.RunAsync(NextResult, _command.TryCancel, cancellationToken);

    /// <inheritdoc />
    public override Task<bool> ReadAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Read() ? TrueTask : FalseTask;
    }

    /// <summary>Reads and discards the remaining results (a later statement's error is thrown here), then releases the connection.</summary>
    public override void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _current = null;
        try
        {
            if (_connection.State == ConnectionState.Open)
            {
                _connection.EnterNativeCall(_command);
                try
                {
                    while (!_noMoreResults)
                    {
                        if (!_connection.NextResult())
                        {
                            _noMoreResults = true;
                            break;
                        }

                        if (_connection.ReadResult(out var affected) is null)
                        {
                            AddAffected(affected);
                        }
                    }
                }
                finally
                {
                    _connection.ExitNativeCall();
                }
            }
        }
        finally
        {
            if (ReferenceEquals(_connection.ActiveReader, this))
            {
                _connection.ActiveReader = null;
            }

            if ((_behavior & CommandBehavior.CloseConnection) != 0)
            {
                _connection.Close();
            }
        }
    }

    /// <inheritdoc />
    public override string GetName(int ordinal) => Column(ordinal).Name;

    /// <inheritdoc />
    public override int GetOrdinal(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var columns = _current?.Columns ?? throw new InvalidOperationException("There is no current result set.");
        var index = Array.FindIndex(columns, c => c.Name == name);
        if (index < 0)
        {
            index = Array.FindIndex(columns, c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));
        }

        return index >= 0 ? index : throw new IndexOutOfRangeException($"The column name '{name}' does not exist in the result set.");
    }

    /// <inheritdoc />
    public override string GetDataTypeName(int ordinal) => Column(ordinal).DataTypeName;

    /// <inheritdoc />
    public override Type GetFieldType(int ordinal) => Column(ordinal).ClrType;

    /// <inheritdoc />
    public override bool IsDBNull(int ordinal) => Raw(ordinal) is null;

    /// <inheritdoc />
    public override object GetValue(int ordinal)
    {
        var raw = Raw(ordinal);
        return raw is null ? DBNull.Value : Column(ordinal).ToClrValue(raw);
    }

    /// <inheritdoc />
    public override int GetValues(object[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var count = Math.Min(values.Length, FieldCount);
        for (var i = 0; i < count; i++)
        {
            values[i] = GetValue(i);
        }

        return count;
    }

    /// <inheritdoc />
    public override string GetString(int ordinal) => NonNull(ordinal) as string ?? throw WrongType(ordinal, typeof(string));

    /// <inheritdoc />
    public override char GetChar(int ordinal)
    {
        var s = GetString(ordinal);
        return s.Length > 0 ? s[0] : throw new InvalidCastException($"Column '{GetName(ordinal)}' is an empty string.");
    }

    /// <inheritdoc />
    public override bool GetBoolean(int ordinal) => NonNull(ordinal) switch
    {
        bool b => b,
        var v when IsInteger(v) => ToInt128(v) != 0,
        _ => throw WrongType(ordinal, typeof(bool)),
    };

    /// <inheritdoc />
    public override byte GetByte(int ordinal) => checked((byte)Integer(ordinal, typeof(byte)));

    /// <inheritdoc />
    public override short GetInt16(int ordinal) => checked((short)Integer(ordinal, typeof(short)));

    /// <inheritdoc />
    public override int GetInt32(int ordinal) => checked((int)Integer(ordinal, typeof(int)));

    /// <inheritdoc />
    public override long GetInt64(int ordinal) => checked((long)Integer(ordinal, typeof(long)));

    /// <summary>Gets an unsigned 64-bit integer (e.g. <c>@@server_id</c>, binlog positions).</summary>
    public ulong GetUInt64(int ordinal) => checked((ulong)Integer(ordinal, typeof(ulong)));

    /// <summary>Gets an unsigned 32-bit integer.</summary>
    public uint GetUInt32(int ordinal) => checked((uint)Integer(ordinal, typeof(uint)));

    /// <inheritdoc />
    public override float GetFloat(int ordinal) => NonNull(ordinal) switch
    {
        float f => f,
        double d => (float)d,
        decimal m => (float)m,
        var v when IsInteger(v) => (float)ToInt128(v),
        _ => throw WrongType(ordinal, typeof(float)),
    };

    /// <inheritdoc />
    public override double GetDouble(int ordinal) => NonNull(ordinal) switch
    {
        double d => d,
        float f => f,
        decimal m => (double)m,
        var v when IsInteger(v) => (double)ToInt128(v),
        _ => throw WrongType(ordinal, typeof(double)),
    };

    /// <inheritdoc />
    public override decimal GetDecimal(int ordinal) => NonNull(ordinal) switch
    {
        decimal m => m,
        double d => (decimal)d,
        float f => (decimal)f,
        var v when IsInteger(v) => (decimal)ToInt128(v),
        _ => throw WrongType(ordinal, typeof(decimal)),
    };

    /// <inheritdoc />
    public override DateTime GetDateTime(int ordinal) => NonNull(ordinal) as DateTime? ?? throw WrongType(ordinal, typeof(DateTime));

    /// <summary>Gets a TIME column.</summary>
    public TimeSpan GetTimeSpan(int ordinal) => NonNull(ordinal) as TimeSpan? ?? throw WrongType(ordinal, typeof(TimeSpan));

    /// <summary>Gets a GUID from a CHAR(36)/CHAR(32) column or a 16-byte binary column (big-endian, as <c>UUID_TO_BIN</c>).</summary>
    public override Guid GetGuid(int ordinal) => NonNull(ordinal) switch
    {
        string s when Guid.TryParse(s, out var g) => g,
        byte[] { Length: 16 } b => new Guid(b, bigEndian: true),
        _ => throw WrongType(ordinal, typeof(Guid)),
    };

    /// <inheritdoc />
    public override long GetBytes(int ordinal, long dataOffset, byte[]? buffer, int bufferOffset, int length)
    {
        var bytes = NonNull(ordinal) as byte[] ?? throw WrongType(ordinal, typeof(byte[]));
        if (buffer is null)
        {
            return bytes.Length;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(dataOffset);
        var count = (int)Math.Max(0, Math.Min(length, bytes.Length - dataOffset));
        Array.Copy(bytes, dataOffset, buffer, bufferOffset, count);
        return count;
    }

    /// <inheritdoc />
    public override long GetChars(int ordinal, long dataOffset, char[]? buffer, int bufferOffset, int length)
    {
        var text = GetString(ordinal);
        if (buffer is null)
        {
            return text.Length;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(dataOffset);
        var count = (int)Math.Max(0, Math.Min(length, text.Length - dataOffset));
        text.CopyTo((int)dataOffset, buffer, bufferOffset, count);
        return count;
    }

    /// <summary>
    /// Gets the value as <typeparamref name="T"/>: any of the getters' types plus <see cref="ulong"/>, <see cref="uint"/>,
    /// <see cref="ushort"/>, <see cref="sbyte"/>, <c>byte[]</c>, <see cref="TimeSpan"/>, <see cref="DateTimeOffset"/>
    /// (a DATETIME read as UTC) and <see cref="Nullable{T}"/> of those (<see langword="null"/> for SQL NULL). A NULL read
    /// as a non-nullable type throws <see cref="InvalidCastException"/>.
    /// </summary>
    public override T GetFieldValue<T>(int ordinal)
    {
        var target = typeof(T);
        var underlying = Nullable.GetUnderlyingType(target);
        if (IsDBNull(ordinal))
        {
            if (underlying is not null)
            {
                return default!;
            }

            if (target == typeof(object) || target == typeof(DBNull))
            {
                return (T)(object)DBNull.Value;
            }

            throw new InvalidCastException($"Column '{GetName(ordinal)}' is NULL; read it as {target.Name}? or check IsDBNull first.");
        }

        return (T)Convert(ordinal, underlying ?? target);
    }

    /// <inheritdoc />
    public override IEnumerator GetEnumerator() => new DbEnumerator(this, closeReader: false);

    internal static MariaDbTestDataReader Execute(MariaDbTestCommand command, MariaDbTestConnection connection, byte[] sql, CommandBehavior behavior)
    {
        var reader = new MariaDbTestDataReader(command, connection, behavior);
        connection.EnterNativeCall(command);
        try
        {
            connection.SendQuery(sql);
            reader.AdvanceToResultSet();
        }
        finally
        {
            connection.ExitNativeCall();
        }

        connection.ActiveReader = reader;
        return reader;
    }

    /// <summary>The connection is closing under the reader: forget the pending results.</summary>
    internal void Abandon()
    {
        _closed = true;
        _noMoreResults = true;
        _current = null;
        _connection.ActiveReader = null;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Close();
        }

        base.Dispose(disposing);
    }

    private static readonly Task<bool> TrueTask = Task.FromResult(true);
    private static readonly Task<bool> FalseTask = Task.FromResult(false);

    /// <summary>Skips results without columns (adding their row counts) until a result set or the end.</summary>
    private bool AdvanceToResultSet()
    {
        while (true)
        {
            var resultSet = _connection.ReadResult(out var affected);
            if (resultSet is not null)
            {
                _current = resultSet;
                _row = -1;
                return true;
            }

            AddAffected(affected);
            if (!_connection.NextResult())
            {
                _noMoreResults = true;
                return false;
            }
        }
    }

    private void AddAffected(long affected)
    {
        if (affected >= 0)
        {
            _recordsAffected = _recordsAffected < 0 ? (int)affected : _recordsAffected + (int)affected;
        }
    }

    private object Convert(int ordinal, Type target)
    {
        if (target == typeof(object))
        {
            return GetValue(ordinal);
        }

        if (target == typeof(string))
        {
            return GetString(ordinal);
        }

        if (target == typeof(byte[]))
        {
            return NonNull(ordinal) as byte[] ?? throw WrongType(ordinal, target);
        }

        if (target == typeof(bool))
        {
            return GetBoolean(ordinal);
        }

        if (target == typeof(long))
        {
            return GetInt64(ordinal);
        }

        if (target == typeof(ulong))
        {
            return GetUInt64(ordinal);
        }

        if (target == typeof(int))
        {
            return GetInt32(ordinal);
        }

        if (target == typeof(uint))
        {
            return GetUInt32(ordinal);
        }

        if (target == typeof(short))
        {
            return GetInt16(ordinal);
        }

        if (target == typeof(ushort))
        {
            return checked((ushort)Integer(ordinal, target));
        }

        if (target == typeof(byte))
        {
            return GetByte(ordinal);
        }

        if (target == typeof(sbyte))
        {
            return checked((sbyte)Integer(ordinal, target));
        }

        if (target == typeof(decimal))
        {
            return GetDecimal(ordinal);
        }

        if (target == typeof(double))
        {
            return GetDouble(ordinal);
        }

        if (target == typeof(float))
        {
            return GetFloat(ordinal);
        }

        if (target == typeof(DateTime))
        {
            return GetDateTime(ordinal);
        }

        if (target == typeof(DateTimeOffset))
        {
            return new DateTimeOffset(DateTime.SpecifyKind(GetDateTime(ordinal), DateTimeKind.Utc));
        }

        if (target == typeof(TimeSpan))
        {
            return GetTimeSpan(ordinal);
        }

        if (target == typeof(Guid))
        {
            return GetGuid(ordinal);
        }

        if (target == typeof(char))
        {
            return GetChar(ordinal);
        }

        var value = GetValue(ordinal);
        return target.IsInstanceOfType(value) ? value : throw WrongType(ordinal, target);
    }

    private Int128 Integer(int ordinal, Type target)
    {
        var value = NonNull(ordinal);
        if (IsInteger(value))
        {
            return ToInt128(value);
        }

        return value switch
        {
            bool b => b ? 1 : 0,
            decimal m when decimal.Truncate(m) == m => (Int128)m,
            _ => throw WrongType(ordinal, target),
        };
    }

    private static bool IsInteger(object value) => value is sbyte or byte or short or ushort or int or uint or long or ulong;

    private static Int128 ToInt128(object value) => value switch
    {
        sbyte v => v,
        byte v => v,
        short v => v,
        ushort v => v,
        int v => v,
        uint v => v,
        long v => v,
        ulong v => v,
        _ => throw new InvalidCastException($"{value.GetType().Name} is not an integer."),
    };

    private InvalidCastException WrongType(int ordinal, Type target)
    {
        var column = Column(ordinal);
        return new InvalidCastException(string.Create(
            CultureInfo.InvariantCulture,
            $"Column '{column.Name}' is {column.DataTypeName} (read as {column.ClrType.Name}) and cannot be read as {target.Name}."));
    }

    private object NonNull(int ordinal)
    {
        var raw = Raw(ordinal) ?? throw new InvalidCastException($"Column '{GetName(ordinal)}' is NULL; check IsDBNull first.");
        return Column(ordinal).ToClrValue(raw);
    }

    private byte[]? Raw(int ordinal)
    {
        ThrowIfClosed();
        var current = _current ?? throw new InvalidOperationException("There is no current result set.");
        if (_row < 0 || _row >= current.Rows.Count)
        {
            throw new InvalidOperationException("The reader is not positioned on a row; call Read() first.");
        }

        var row = current.Rows[_row];
        return (uint)ordinal < (uint)row.Length
            ? row[ordinal]
            : throw new IndexOutOfRangeException($"Column ordinal {ordinal} is outside 0..{row.Length - 1}.");
    }

    private MariaDbColumn Column(int ordinal)
    {
        ThrowIfClosed();
        var columns = _current?.Columns ?? throw new InvalidOperationException("There is no current result set.");
        return (uint)ordinal < (uint)columns.Length
            ? columns[ordinal]
            : throw new IndexOutOfRangeException($"Column ordinal {ordinal} is outside 0..{columns.Length - 1}.");
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new InvalidOperationException("Invalid attempt to read when the reader is closed.");
        }
    }
}
