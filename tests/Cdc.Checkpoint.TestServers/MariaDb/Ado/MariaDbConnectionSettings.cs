using System.Data.Common;
using System.Globalization;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A parsed connection string. Keys and their synonyms follow MySqlConnector, so the same string works with both
/// providers; a key this provider does not understand is rejected rather than silently ignored.
/// </summary>
internal sealed class MariaDbConnectionSettings
{
    private static readonly Dictionary<string, string> Synonyms = new(StringComparer.OrdinalIgnoreCase)
    {
        ["server"] = "server", ["host"] = "server", ["data source"] = "server", ["datasource"] = "server",
        ["address"] = "server", ["addr"] = "server", ["network address"] = "server",
        ["port"] = "port",
        ["user"] = "user", ["user id"] = "user", ["userid"] = "user", ["uid"] = "user", ["username"] = "user",
        ["user name"] = "user",
        ["password"] = "password", ["pwd"] = "password",
        ["database"] = "database", ["initial catalog"] = "database",
        ["socket"] = "socket", ["unix socket"] = "socket",
        ["connect timeout"] = "connect timeout", ["connection timeout"] = "connect timeout",
        ["connecttimeout"] = "connect timeout",
        ["allow user variables"] = "allow user variables", ["allowuservariables"] = "allow user variables",
        ["use affected rows"] = "use affected rows", ["useaffectedrows"] = "use affected rows",
        ["ignore command transaction"] = "ignore command transaction",
        ["ignorecommandtransaction"] = "ignore command transaction",
        ["ssl mode"] = "ssl mode", ["sslmode"] = "ssl mode",
        ["character set"] = "character set", ["charset"] = "character set",
        // accepted and ignored: there is no pool and nothing to retrieve
        ["pooling"] = "ignored", ["allow public key retrieval"] = "ignored", ["allowpublickeyretrieval"] = "ignored",
        ["persist security info"] = "ignored", ["persistsecurityinfo"] = "ignored",
        ["application name"] = "ignored", ["applicationname"] = "ignored",
    };

    public string? Host { get; private init; }

    public uint Port { get; private init; } = 3306;

    public string? UserId { get; private init; }

    public string? Password { get; private init; }

    public string? Database { get; private init; }

    public string? Socket { get; private init; }

    public uint ConnectTimeoutSeconds { get; private init; } = 15;

    public bool AllowUserVariables { get; private init; }

    public bool UseAffectedRows { get; private init; }

    public bool IgnoreCommandTransaction { get; private init; }

    /// <summary>Parses <paramref name="connectionString"/>; throws <see cref="ArgumentException"/> naming the bad key.</summary>
    public static MariaDbConnectionSettings Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        string? host = null, user = null, password = null, database = null, socket = null;
        uint port = 3306, timeout = 15;
        bool allowUserVariables = false, useAffectedRows = false, ignoreCommandTransaction = false;
        foreach (string key in builder.Keys)
        {
            var value = Convert.ToString(builder[key], CultureInfo.InvariantCulture) ?? string.Empty;
            if (!Synonyms.TryGetValue(key, out var canonical))
            {
                throw new ArgumentException(
                    $"Connection string key '{key}' is not supported by the MariaDB test provider. Supported: Server, Port, " +
                    "User, Password, Database, Socket, Connect Timeout, Allow User Variables, Use Affected Rows, " +
                    "Ignore Command Transaction, SslMode=None, CharSet=utf8mb4.",
                    nameof(connectionString));
            }

            switch (canonical)
            {
                case "server":
                    // MySqlConnector convention: a server that is an absolute path is a unix socket.
                    if (value.StartsWith('/'))
                    {
                        socket = value;
                    }
                    else
                    {
                        host = value;
                    }

                    break;
                case "port":
                    port = ParseUInt(key, value);
                    break;
                case "user":
                    user = value;
                    break;
                case "password":
                    password = value;
                    break;
                case "database":
                    database = value.Length == 0 ? null : value;
                    break;
                case "socket":
                    socket = value.Length == 0 ? null : value;
                    break;
                case "connect timeout":
                    timeout = ParseUInt(key, value);
                    break;
                case "allow user variables":
                    allowUserVariables = ParseBool(key, value);
                    break;
                case "use affected rows":
                    useAffectedRows = ParseBool(key, value);
                    break;
                case "ignore command transaction":
                    ignoreCommandTransaction = ParseBool(key, value);
                    break;
                case "ssl mode":
                    if (!value.Equals("none", StringComparison.OrdinalIgnoreCase)
                        && !value.Equals("disabled", StringComparison.OrdinalIgnoreCase)
                        && !value.Equals("preferred", StringComparison.OrdinalIgnoreCase))
                    {
                        throw new ArgumentException(
                            $"SslMode '{value}' is not supported by the MariaDB test provider (no TLS); use SslMode=None.",
                            nameof(connectionString));
                    }

                    break;
                case "character set":
                    if (!value.Equals("utf8mb4", StringComparison.OrdinalIgnoreCase))
                    {
                        throw new ArgumentException(
                            $"CharSet '{value}' is not supported by the MariaDB test provider; it always uses utf8mb4.",
                            nameof(connectionString));
                    }

                    break;
                default:
                    break;
            }
        }

        if (host is null && socket is null)
        {
            throw new ArgumentException(
                $"Connection string '{Redact(builder)}' names no Server (or Socket).", nameof(connectionString));
        }

        return new MariaDbConnectionSettings
        {
            Host = host,
            Port = port,
            UserId = user,
            Password = password,
            Database = database,
            Socket = socket,
            ConnectTimeoutSeconds = timeout,
            AllowUserVariables = allowUserVariables,
            UseAffectedRows = useAffectedRows,
            IgnoreCommandTransaction = ignoreCommandTransaction,
        };
    }

    /// <summary>A copy with another default database (<see langword="null"/>: none).</summary>
    public MariaDbConnectionSettings WithDatabase(string? database) => new()
    {
        Host = Host,
        Port = Port,
        UserId = UserId,
        Password = Password,
        Database = database,
        Socket = Socket,
        ConnectTimeoutSeconds = ConnectTimeoutSeconds,
        AllowUserVariables = AllowUserVariables,
        UseAffectedRows = UseAffectedRows,
        IgnoreCommandTransaction = IgnoreCommandTransaction,
    };

    /// <summary>Where the connection goes, for messages (never the password).</summary>
    public string Describe() =>
        Socket is not null && (Host is null || Host == "localhost")
            ? $"unix socket {Socket} as '{UserId}'"
            : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)} as '{UserId}'";

    private static uint ParseUInt(string key, string value) =>
        uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw new ArgumentException($"Connection string key '{key}' has the value '{value}', which is not a non-negative integer.", nameof(value));

    private static bool ParseBool(string key, string value)
    {
        if (value.Equals("true", StringComparison.OrdinalIgnoreCase) || value.Equals("yes", StringComparison.OrdinalIgnoreCase) || value == "1")
        {
            return true;
        }

        if (value.Equals("false", StringComparison.OrdinalIgnoreCase) || value.Equals("no", StringComparison.OrdinalIgnoreCase) || value == "0")
        {
            return false;
        }

        throw new ArgumentException($"Connection string key '{key}' has the value '{value}', which is not a boolean.", nameof(value));
    }

    private static string Redact(DbConnectionStringBuilder builder)
    {
        var copy = new DbConnectionStringBuilder { ConnectionString = builder.ConnectionString };
        foreach (var key in new[] { "password", "pwd" })
        {
            if (copy.ContainsKey(key))
            {
                copy[key] = "***";
            }
        }

        return copy.ConnectionString;
    }
}
