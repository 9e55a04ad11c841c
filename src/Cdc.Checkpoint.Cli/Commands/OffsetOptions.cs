using System.CommandLine;
using System.CommandLine.Parsing;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Cli.Commands;

/// <summary>The values of the offset options, as given.</summary>
internal sealed record OffsetInput(
    string? Source,
    string? Lsn,
    string? Slot,
    ulong? SystemId,
    uint? Timeline,
    string? Database,
    string? Gtid,
    string? BinlogFile,
    ulong? BinlogPos,
    string? ServerUuid,
    uint? ServerId,
    ulong SkipEvents,
    ulong SkipRows);

/// <summary>
/// The options that describe a typed offset (<c>--source</c> and the options of its family) plus <c>--count</c>, shared
/// by <c>seed</c> and <c>rewind</c>. They are turned into an offset while parsing, so a bad value is a usage error
/// (exit 2) that names the option.
/// </summary>
internal sealed class OffsetOptions
{
    public static readonly string[] SourceTypes =
    [
        PostgresOffset.StreamingSourceType, PostgresOffset.SnapshotSourceType,
        MySqlOffset.DefaultSourceType, MySqlOffset.SnapshotSourceType,
        MariaDbOffset.DefaultSourceType, MariaDbOffset.SnapshotSourceType,
    ];

    private const string PostgresOptions = "--lsn, --slot, --system-id, --timeline, --database";
    private const string MySqlOptions = "--gtid-set, --binlog-file, --binlog-pos, --server-uuid, --server-id, --skip-events, --skip-rows";
    private const string MariaDbOptions = "--gtid-set, --binlog-file, --binlog-pos, --server-id, --skip-events, --skip-rows";

    public OffsetOptions()
    {
        Source.Validators.Add(result =>
        {
            var value = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Empty;
            if (!SourceTypes.Contains(value, StringComparer.Ordinal))
            {
                result.AddError($"--source '{value}' is not a source type this tool writes; use one of {string.Join(", ", SourceTypes)}.");
            }
        });
    }

    public Option<string> Source { get; } = new("--source")
    {
        Description = "The source type: postgres, mysql or mariadb, or its _snapshot variant.",
        HelpName = "postgres|mysql|mariadb",
        Required = true,
    };

    public Option<string?> Lsn { get; } = new("--lsn") { Description = "PostgreSQL: the LSN processed durably, as X/Y (for example 0/16B3748).", HelpName = "X/Y" };

    public Option<string?> Slot { get; } = new("--slot") { Description = "PostgreSQL: the replication slot name.", HelpName = "NAME" };

    public Option<ulong?> SystemId { get; } = NumberOption.Optional<ulong>("--system-id", "PostgreSQL: the cluster's system identifier (IDENTIFY_SYSTEM), if known.");

    public Option<uint?> Timeline { get; } = NumberOption.Optional<uint>("--timeline", "PostgreSQL: the timeline of the LSN, if known.");

    public Option<string?> Database { get; } = new("--database") { Description = "PostgreSQL: the database the slot belongs to, if known.", HelpName = "NAME" };

    public Option<string?> Gtid { get; } = new("--gtid-set", "--gtid-position")
    {
        Description = "MySQL: the executed GTID set (as gtid_executed prints it; \"\" for the empty set). MariaDB: the GTID position (domain-server-seq,...).",
        HelpName = "SET",
    };

    public Option<string?> BinlogFile { get; } = new("--binlog-file") { Description = "MySQL/MariaDB: the binlog file name (with --binlog-pos).", HelpName = "FILE" };

    public Option<ulong?> BinlogPos { get; } = NumberOption.Optional<ulong>("--binlog-pos", "MySQL/MariaDB: the position in the binlog file (with --binlog-file).");

    public Option<string?> ServerUuid { get; } = new("--server-uuid") { Description = "MySQL: the server_uuid the position was read from, if known.", HelpName = "UUID" };

    public Option<uint?> ServerId { get; } = NumberOption.Optional<uint>("--server-id", "MySQL/MariaDB: the server_id the position was read from, if known.");

    public Option<ulong> SkipEvents { get; } = NumberOption.Plain<ulong>("--skip-events", "MySQL/MariaDB: events of the next transaction already processed (default 0).");

    public Option<ulong> SkipRows { get; } = NumberOption.Plain<ulong>("--skip-rows", "MySQL/MariaDB: rows of the next event already processed (default 0).");

    public Option<ulong> Count { get; } = NumberOption.Plain<ulong>("--count", "The committed event count to record with the offset.", required: true);

    /// <summary>Adds the options to <paramref name="command"/> with a validator that builds the offset.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Source, Lsn, Slot, SystemId, Timeline, Database, Gtid, BinlogFile, BinlogPos, ServerUuid, ServerId, SkipEvents, SkipRows, Count })
        {
            command.Options.Add(option);
        }

        command.Validators.Add(result =>
        {
            OffsetInput input;
            try
            {
                input = Read(result);
            }
            catch (InvalidOperationException)
            {
                return; // a value that does not convert (or is not among the allowed ones) is reported by its option
            }

            if (input.Source is null || !SourceTypes.Contains(input.Source, StringComparer.Ordinal))
            {
                return; // reported by --source itself (missing or not a known source type)
            }

            try
            {
                Build(input);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException)
            {
                result.AddError(CliApp.WithoutParameterSuffix(ex));
            }
        });
    }

    public OffsetInput Read(CommandResult result) => new(
        result.GetValue(Source), result.GetValue(Lsn), result.GetValue(Slot), result.GetValue(SystemId), result.GetValue(Timeline),
        result.GetValue(Database), result.GetValue(Gtid), result.GetValue(BinlogFile), result.GetValue(BinlogPos), result.GetValue(ServerUuid),
        result.GetValue(ServerId), result.GetValue(SkipEvents), result.GetValue(SkipRows));

    public OffsetInput Read(ParseResult result) => Read(result.CommandResult);

    /// <summary>Builds the typed offset the options describe.</summary>
    /// <exception cref="ArgumentException">An option does not apply to the source, or is missing.</exception>
    /// <exception cref="FormatException">A value is malformed; the message quotes it.</exception>
    public static CheckpointOffset Build(OffsetInput input)
    {
        ArgumentNullException.ThrowIfNull(input.Source);
        var family = SourceTypeName.FamilyOf(input.Source);
        return family switch
        {
            PostgresOffset.StreamingSourceType => BuildPostgres(input),
            MySqlOffset.DefaultSourceType => BuildMySql(input),
            MariaDbOffset.DefaultSourceType => BuildMariaDb(input),
            _ => throw new ArgumentException($"--source '{input.Source}' is not a source type this tool writes; use one of {string.Join(", ", SourceTypes)}."),
        };
    }

    private static PostgresOffset BuildPostgres(OffsetInput input)
    {
        Refuse(input.Source!, PostgresOptions, ("--gtid-set", input.Gtid is not null), ("--binlog-file", input.BinlogFile is not null),
            ("--binlog-pos", input.BinlogPos is not null), ("--server-uuid", input.ServerUuid is not null), ("--server-id", input.ServerId is not null),
            ("--skip-events", input.SkipEvents != 0), ("--skip-rows", input.SkipRows != 0));
        if (input.Lsn is null || input.Slot is null)
        {
            throw new ArgumentException($"--source {input.Source} needs --lsn X/Y and --slot NAME (optional: --system-id, --timeline, --database).");
        }

        var lsn = Named("--lsn", () => PostgresOffset.ParseLsn(input.Lsn));
        if (input.SystemId == 0)
        {
            throw new ArgumentException("--system-id 0 is not a PostgreSQL system identifier; leave the option out when it is unknown.");
        }

        if (input.Timeline == 0)
        {
            throw new ArgumentException("--timeline 0 is not a PostgreSQL timeline (they start at 1); leave the option out when it is unknown.");
        }

        try
        {
            return new PostgresOffset(lsn, input.Slot, input.SystemId, input.Timeline, input.Database, input.Source!);
        }
        catch (ArgumentException ex) when (ex.ParamName is "slotName" or "database")
        {
            throw new ArgumentException($"{(ex.ParamName == "slotName" ? "--slot" : "--database")}: {CliApp.WithoutParameterSuffix(ex)}", ex);
        }
    }

    private static MySqlOffset BuildMySql(OffsetInput input)
    {
        RefuseServerSide(input, MySqlOptions);
        Guid? uuid = null;
        if (input.ServerUuid is not null)
        {
            if (!Guid.TryParseExact(input.ServerUuid, "D", out var parsed) || parsed == Guid.Empty)
            {
                throw new FormatException($"--server-uuid '{input.ServerUuid}' is not a server UUID such as '3e11fa47-71ca-11e1-9e33-c80aa9429562'.");
            }

            uuid = parsed;
        }

        var gtid = input.Gtid is null ? null : Named("--gtid-set", () => GtidSet.Parse(input.Gtid));
        return new MySqlOffset(gtid, Binlog(input), uuid, input.ServerId, input.SkipEvents, input.SkipRows, input.Source!);
    }

    private static MariaDbOffset BuildMariaDb(OffsetInput input)
    {
        RefuseServerSide(input, MariaDbOptions);
        Refuse(input.Source!, MariaDbOptions, ("--server-uuid", input.ServerUuid is not null));
        var position = input.Gtid is null ? null : Named("--gtid-position", () => MariaDbGtidPosition.Parse(input.Gtid));
        return new MariaDbOffset(position, Binlog(input), input.ServerId, input.SkipEvents, input.SkipRows, input.Source!);
    }

    private static void RefuseServerSide(OffsetInput input, string allowed)
    {
        Refuse(input.Source!, allowed, ("--lsn", input.Lsn is not null), ("--slot", input.Slot is not null), ("--system-id", input.SystemId is not null),
            ("--timeline", input.Timeline is not null), ("--database", input.Database is not null));
        if (input.Gtid is null && input.BinlogFile is null && input.BinlogPos is null)
        {
            throw new ArgumentException($"--source {input.Source} needs --gtid-set SET, or --binlog-file FILE with --binlog-pos N, or both.");
        }
    }

    private static BinlogPosition? Binlog(OffsetInput input)
    {
        if (input.BinlogFile is null && input.BinlogPos is null)
        {
            return null;
        }

        if (input.BinlogFile is null || input.BinlogPos is null)
        {
            throw new ArgumentException("--binlog-file and --binlog-pos go together: give both or neither.");
        }

        return Named("--binlog-file", () => new BinlogPosition(input.BinlogFile, input.BinlogPos.Value));
    }

    /// <summary>Runs a parse and prefixes its message with the option it came from, so the operator knows what to fix.</summary>
    private static T Named<T>(string option, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{option}: {ex.Message}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{option}: {CliApp.WithoutParameterSuffix(ex)}", ex);
        }
    }

    private static void Refuse(string source, string allowed, params (string Option, bool Given)[] options)
    {
        var given = options.Where(o => o.Given).Select(o => o.Option).ToList();
        if (given.Count > 0)
        {
            throw new ArgumentException($"{string.Join(", ", given)} {(given.Count == 1 ? "does" : "do")} not apply to --source {source}; its options are {allowed}.");
        }
    }
}
