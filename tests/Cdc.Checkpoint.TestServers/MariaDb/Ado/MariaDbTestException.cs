using System.Collections;
using System.Data.Common;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// An error from the server or from Connector/C. Shaped like MySqlConnector's <c>MySqlException</c> so provider-neutral
/// code sees the same thing from both: <see cref="Number"/> (<c>mysql_errno</c>), <see cref="SqlState"/>,
/// <see cref="IsTransient"/>, and <see cref="Exception.Data"/> entries <c>"Server Error Code"</c> and <c>"SqlState"</c>.
/// Like MySqlConnector, <see cref="System.Runtime.InteropServices.ExternalException.ErrorCode"/> is not the MySQL number.
/// </summary>
public sealed class MariaDbTestException : DbException
{
    private IDictionary? _data;

    /// <summary>Creates an exception.</summary>
    /// <param name="number">The MySQL/MariaDB error number (0 for errors raised by this provider itself).</param>
    /// <param name="sqlState">The SQLSTATE, when known.</param>
    /// <param name="message">The message.</param>
    public MariaDbTestException(int number, string? sqlState, string message)
        : base(message)
    {
        Number = number;
        SqlState = sqlState;
    }

    /// <summary>Creates an exception raised by the provider itself (number 0).</summary>
    public MariaDbTestException(string message)
        : this(0, null, message)
    {
    }

    /// <summary>Creates an exception with an inner exception (number 0).</summary>
    public MariaDbTestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception with no message (number 0).</summary>
    public MariaDbTestException()
    {
    }

    /// <summary>The error number: server errors are 1000–1999 and 3000+ (e.g. 1062 duplicate key, 1146 no such table,
    /// 1950 GTID out of order in strict mode); Connector/C client errors are 2000–2999 (2003 cannot connect, 2013 lost
    /// connection).</summary>
    public int Number { get; }

    /// <inheritdoc />
    public override string? SqlState { get; }

    /// <summary>
    /// <see langword="true"/> for lock wait timeout (1205), deadlock (1213), too many connections (1040), cannot
    /// connect (1042, 2002, 2003), lost connection (2006, 2013) and XA deadlock (1614).
    /// </summary>
    public override bool IsTransient => Number is 1040 or 1042 or 1205 or 1213 or 1614 or 2002 or 2003 or 2006 or 2013;

    /// <inheritdoc />
    public override IDictionary Data
    {
        get
        {
            if (_data is null)
            {
                _data = base.Data;
                _data["Server Error Code"] = Number;
                _data["SqlState"] = SqlState;
            }

            return _data;
        }
    }
}
