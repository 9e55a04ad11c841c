using System.CommandLine;
using System.CommandLine.Parsing;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Store;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Store;
using Cdc.Checkpoint.Tables;
using MySqlConnector;
using Npgsql;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>Which database a connection string is for.</summary>
internal enum Provider
{
    Postgres,
    MySql,
}

/// <summary>A connection string and what it is for; <see cref="ToString"/> never shows the password.</summary>
internal sealed record Connection(Provider Provider, string ConnectionString, string Origin)
{
    /// <summary>Host, port and database, for messages (never the password).</summary>
    public string Describe()
    {
        try
        {
            if (Provider == Provider.Postgres)
            {
                var pg = new NpgsqlConnectionStringBuilder(ConnectionString);
                return $"PostgreSQL {pg.Host}:{pg.Port}/{pg.Database}";
            }

            var my = new MySqlConnectionStringBuilder(ConnectionString);
            return $"MySQL/MariaDB {my.Server}:{my.Port}/{my.Database}";
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
        {
            return Provider == Provider.Postgres ? "PostgreSQL" : "MySQL/MariaDB";
        }
    }

    public override string ToString() => Describe();
}

/// <summary>
/// The options that address a connection: <c>--PREFIX-postgres [CONNSTR]</c> or <c>--PREFIX-mysql [CONNSTR]</c>, and
/// <c>--PREFIX-connection-env VAR</c> to read the string from an environment variable (so a password never reaches the
/// shell history or the process list).
/// </summary>
internal sealed class ConnectionOptions
{
    public ConnectionOptions(string postgres, string mysql, string env, string what)
    {
        Postgres = new Option<string?>(postgres) { Description = $"{what}: a PostgreSQL connection string (or give the option without a value and the string in the variable named by {env}).", HelpName = "CONNSTR", Arity = ArgumentArity.ZeroOrOne };
        MySql = new Option<string?>(mysql) { Description = $"{what}: a MySQL/MariaDB connection string (or give the option without a value and the string in the variable named by {env}).", HelpName = "CONNSTR", Arity = ArgumentArity.ZeroOrOne };
        Env = new Option<string?>(env) { Description = $"The environment variable holding the connection string for {postgres} or {mysql}.", HelpName = "VAR" };
    }

    public Option<string?> Postgres { get; }

    public Option<string?> MySql { get; }

    public Option<string?> Env { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Postgres);
        command.Options.Add(MySql);
        command.Options.Add(Env);
    }

    /// <summary>Whether any of the options was given.</summary>
    public bool IsGiven(CommandResult result) =>
        result.GetResult(Postgres) is not null || result.GetResult(MySql) is not null || result.GetResult(Env) is not null;

    /// <summary>The connection, or <see langword="null"/> when none of the options was given.</summary>
    /// <exception cref="ArgumentException">Both providers, no provider, or a missing/empty variable.</exception>
    public Connection? Read(ParseResult parseResult)
    {
        var pg = parseResult.GetResult(Postgres) is not null;
        var my = parseResult.GetResult(MySql) is not null;
        var env = parseResult.GetValue(Env);
        if (!pg && !my)
        {
            return env is null ? null : throw new ArgumentException($"{Env.Name} {env} needs {Postgres.Name} or {MySql.Name} (without a value) to say which server the connection string is for.");
        }

        if (pg && my)
        {
            throw new ArgumentException($"Give {Postgres.Name} or {MySql.Name}, not both.");
        }

        var option = pg ? Postgres : MySql;
        var value = parseResult.GetValue(option);
        string origin;
        if (env is not null)
        {
            if (value is not null)
            {
                throw new ArgumentException($"{option.Name} has a value and {Env.Name} names a variable: give the connection string one way.");
            }

            value = Environment.GetEnvironmentVariable(env);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new ArgumentException($"Environment variable {env} ({Env.Name}) is not set or empty; export the connection string in it.");
            }

            origin = $"${env}";
        }
        else if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"{option.Name} needs a connection string, or {Env.Name} VAR naming the environment variable that holds it.");
        }
        else
        {
            origin = option.Name;
        }

        var provider = pg ? Provider.Postgres : Provider.MySql;
        try
        {
            // Parsed here so that a malformed string is a usage error naming the option, not a driver exception later.
            _ = provider == Provider.Postgres ? new NpgsqlConnectionStringBuilder(value).ConnectionString : new MySqlConnectionStringBuilder(value).ConnectionString;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ArgumentException($"{origin} is not a valid {(pg ? "PostgreSQL" : "MySQL/MariaDB")} connection string: {CliApp.WithoutParameterSuffix(ex)}");
        }

        return new Connection(provider, value, origin);
    }
}

/// <summary>
/// A row of the PostgreSQL or MySQL/MariaDB table store: <c>--postgres|--mysql CONNSTR</c> (or <c>--connection-env</c>),
/// <c>--name NAME</c>, and the table options the stores take (<c>--schema</c>: the PostgreSQL schema or the MySQL
/// database; <c>--table</c>).
/// </summary>
internal sealed class TableOptions
{
    public ConnectionOptions Connection { get; } = new("--postgres", "--mysql", "--connection-env", "The table store's database");

    public Option<string?> Name { get; } = new("--name") { Description = "The checkpoint name (the store's name argument: one consumer).", HelpName = "NAME" };

    public Option<string?> Schema { get; } = new("--schema")
    {
        Description = "PostgreSQL: the schema of the checkpoint tables (default public). MySQL/MariaDB: their database (default: the connection's).",
        HelpName = "NAME",
    };

    public Option<string?> Table { get; } = new("--table") { Description = "The checkpoint table (default cdc_checkpoint; the store also uses {table}_fence and {table}_audit).", HelpName = "NAME" };

    public void AddTo(Command command)
    {
        Connection.AddTo(command);
        command.Options.Add(Name);
        command.Options.Add(Schema);
        command.Options.Add(Table);
    }

    /// <summary>Whether the command addresses a table row rather than a directory.</summary>
    public bool IsGiven(CommandResult result) =>
        Connection.IsGiven(result) || result.GetResult(Name) is not null || result.GetResult(Schema) is not null || result.GetResult(Table) is not null;

    /// <summary>Adds a validator: exactly one of DIR and a table row.</summary>
    public void RequireDirectoryOrTable(Command command, Argument<string?> directory)
    {
        command.Validators.Add(result =>
        {
            var hasDirectory = result.GetValue(directory) is not null;
            var hasTable = IsGiven(result);
            if (hasDirectory && hasTable)
            {
                result.AddError("Give a checkpoint directory DIR or a table row (--postgres/--mysql with --name), not both.");
            }
            else if (!hasDirectory && !hasTable)
            {
                result.AddError("Give a checkpoint directory DIR, or a table row with --postgres CONNSTR or --mysql CONNSTR (or --connection-env VAR) and --name NAME.");
            }
            else if (hasTable && result.GetResult(Name) is null)
            {
                result.AddError("--name NAME is required with a table store: the checkpoint name the consumer uses.");
            }
        });
    }

    /// <summary>Opens the store the options address (nothing is touched until the first operation).</summary>
    public TableStore Open(ParseResult parseResult, OffsetCodecRegistry codecs)
    {
        var connection = Connection.Read(parseResult) ?? throw new ArgumentException("Give --postgres CONNSTR or --mysql CONNSTR (or --connection-env VAR).");
        var name = parseResult.GetValue(Name) ?? throw new ArgumentException("--name NAME is required with a table store.");
        var schema = parseResult.GetValue(Schema);
        var table = parseResult.GetValue(Table);
        return TableStore.Open(connection, name, schema, table, codecs);
    }
}

/// <summary>An opened table store, through its public API only.</summary>
internal sealed class TableStore : IAsyncDisposable
{
    private readonly IAsyncDisposable _dataSource;
    private readonly PostgresCheckpointStore? _postgres;
    private readonly MySqlCheckpointStore? _mySql;

    private TableStore(ICheckpointStore store, IAsyncDisposable dataSource, Connection connection, string name, string table)
    {
        Store = store;
        _postgres = store as PostgresCheckpointStore;
        _mySql = store as MySqlCheckpointStore;
        _dataSource = dataSource;
        Connection = connection;
        Name = name;
        Table = table;
    }

    public ICheckpointStore Store { get; }

    public Connection Connection { get; }

    public string Name { get; }

    /// <summary>The qualified table, as the store names it in messages.</summary>
    public string Table { get; }

    /// <summary>"checkpoint NAME in TABLE on SERVER", for messages.</summary>
    public string Describe() => $"checkpoint '{Name}' in {Table} on {Connection.Describe()}";

    public static TableStore Open(Connection connection, string name, string? schema, string? table, OffsetCodecRegistry codecs)
    {
        try
        {
            if (connection.Provider == Provider.Postgres)
            {
                var options = new PostgresCheckpointStoreOptions
                {
                    Schema = schema ?? "public",
                    TableName = table ?? "cdc_checkpoint",
                    Codecs = codecs,
                    Owner = $"cdc-checkpoint@{Environment.MachineName}:{Environment.ProcessId}",
                };
                var dataSource = NpgsqlDataSource.Create(connection.ConnectionString);
                var store = new PostgresCheckpointStore(dataSource, name, options);
                return new TableStore(store, dataSource, connection, name, store.TableName);
            }
            else
            {
                var options = new MySqlCheckpointStoreOptions
                {
                    Database = schema,
                    TableName = table ?? "cdc_checkpoint",
                    Codecs = codecs,
                    Owner = $"cdc-checkpoint@{Environment.MachineName}:{Environment.ProcessId}",
                };
                var dataSource = new MySqlDataSource(connection.ConnectionString);
                var store = new MySqlCheckpointStore(dataSource, name, options);
                return new TableStore(store, dataSource, connection, name, store.TableName);
            }
        }
        catch (ArgumentException ex)
        {
            var option = ex.ParamName switch
            {
                "name" => "--name",
                "value" when ex.Message.StartsWith("Schema", StringComparison.Ordinal) || ex.Message.StartsWith("Database", StringComparison.Ordinal) => "--schema",
                "value" => "--table",
                _ => "option",
            };
            throw new ArgumentException($"{option}: {CliApp.WithoutParameterSuffix(ex)}", ex);
        }
    }

    /// <summary>The fence row (epoch and last owner), read without locking; <see langword="null"/> when never acquired.</summary>
    public Task<CheckpointFence?> ReadFenceAsync(CancellationToken cancellationToken) =>
        _postgres?.ReadFenceAsync(cancellationToken) ?? _mySql!.ReadFenceAsync(cancellationToken);

    /// <summary>Every row stored under the name, ordered by source type.</summary>
    public Task<IReadOnlyList<CheckpointRecord>> ListAsync(CancellationToken cancellationToken) =>
        _postgres?.ListAsync(cancellationToken) ?? _mySql!.ListAsync(cancellationToken);

    /// <summary>The newest audit rows, newest first.</summary>
    public Task<IReadOnlyList<CheckpointAuditEntry>> ReadAuditAsync(int limit, CancellationToken cancellationToken) =>
        _postgres?.ReadAuditAsync(limit, cancellationToken) ?? _mySql!.ReadAuditAsync(limit, cancellationToken);

    /// <summary>Codecs for both families (a store reads what it was given; the tool reads everything).</summary>
    public static OffsetCodecRegistry AllCodecs => OffsetCodecRegistry.Empty.WithPostgres().WithMySql();

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
