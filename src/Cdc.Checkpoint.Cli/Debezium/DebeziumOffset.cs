using System.Globalization;
using System.Text.Json;
using Cdc.Checkpoint.MySql;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Offsets;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Cli.Debezium;

/// <summary>What the import needs to know besides the offset itself (Debezium keeps it in the connector's configuration).</summary>
/// <param name="Source">postgres, mysql or mariadb; <see langword="null"/> to tell from the offset's fields.</param>
/// <param name="Slot">PostgreSQL: the connector's <c>slot.name</c>.</param>
/// <param name="Database">PostgreSQL: the connector's <c>database.dbname</c>, if given.</param>
/// <param name="Connector">The connector name the Kafka/file store key must name, if given.</param>
/// <param name="IgnoredFields">Fields the operator has checked do not move the position.</param>
internal sealed record DebeziumImportSettings(string? Source, string? Slot, string? Database, string? Connector, IReadOnlySet<string> IgnoredFields);

/// <summary>A Debezium offset mapped exactly onto a typed offset, with the facts the mapping rested on.</summary>
internal sealed record DebeziumImport(CheckpointOffset Offset, string? ConnectorName, string? ServerName, IReadOnlyList<string> Facts);

/// <summary>
/// Maps the offset value a Debezium connector stores (Kafka Connect offset topic, file or JDBC offset store) onto an
/// equivalent <see cref="PostgresOffset"/>, <see cref="MySqlOffset"/> or <see cref="MariaDbOffset"/>, refusing anything
/// that cannot be mapped exactly. The field semantics follow Debezium's own code (docs/migrating-from-debezium.md cites
/// the classes): <c>PostgresOffsetContext</c>, <c>PostgresStreamingChangeEventSource</c>, <c>BinlogOffsetContext</c>,
/// <c>CommonOffsetContext</c>.
/// </summary>
internal static class DebeziumOffset
{
    // Fields that never move the position (times, transaction ids, transaction-metadata counters, the PostgreSQL
    // message type and origin, the binlog server id that comes from the last event's header).
    private static readonly HashSet<string> InformationalPostgres = new(StringComparer.Ordinal)
    {
        "ts_usec", "txId", "xmin", "messageType", "origin", "origin_lsn", "transaction_id", "snapshot", "last_snapshot_record", "snapshot_completed",
    };

    private static readonly HashSet<string> InformationalBinlog = new(StringComparer.Ordinal)
    {
        "ts_sec", "server_id", "transaction_id", "snapshot", "snapshot_completed",
    };

    /// <summary>Reads <paramref name="json"/> (an offset value, or a <c>[key, value]</c> pair) and maps it.</summary>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.Corrupt"/>: not an offset; <see cref="CheckpointErrorCode.Misconfigured"/>: a field that cannot be mapped exactly (named).</exception>
    public static DebeziumImport Map(string json, string origin, DebeziumImportSettings settings)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 16 });
            root = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw Bad(CheckpointErrorCode.Corrupt, origin, $"is not JSON ({ex.Message.TrimEnd('.')}). Pass the offset value as the offset store keeps it: a JSON object such as {{\"lsn_commit\":…}}, or the [key, value] pair of the offsets topic.");
        }

        string? connector = null;
        string? server = null;
        var value = root;
        if (root.ValueKind == JsonValueKind.Array)
        {
            if (root.GetArrayLength() != 2 || root[1].ValueKind != JsonValueKind.Object)
            {
                throw Bad(CheckpointErrorCode.Corrupt, origin, "is a JSON array but not a [key, value] pair whose value is the offset object.");
            }

            (connector, server) = ReadKey(root[0], origin);
            value = root[1];
        }
        else if (root.ValueKind != JsonValueKind.Object)
        {
            throw Bad(CheckpointErrorCode.Corrupt, origin, $"holds a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an offset object.");
        }

        if (settings.Connector is { } expected && connector is not null && !string.Equals(expected, connector, StringComparison.Ordinal))
        {
            throw Bad(CheckpointErrorCode.ServerMismatch, origin, $"is an offset of connector '{connector}', not of '{expected}' (--connector). Export the offset of the connector you are replacing.");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            if (!fields.TryAdd(property.Name, property.Value))
            {
                throw Bad(CheckpointErrorCode.Corrupt, origin, $"repeats field '{property.Name}'.");
            }
        }

        var family = settings.Source ?? Detect(fields, origin);
        var facts = new List<string>();
        if (connector is not null)
        {
            facts.Add($"connector {connector}{(server is null ? string.Empty : $", server {server}")}");
        }

        RefuseRunningSnapshot(fields, origin);
        CheckpointOffset offset = family switch
        {
            "postgres" => MapPostgres(fields, origin, settings, facts),
            "mysql" or "mariadb" => MapBinlog(fields, origin, family, settings, facts),
            _ => throw new ArgumentException($"--source '{family}' is not one of postgres, mysql, mariadb."),
        };
        return new DebeziumImport(offset, connector, server, facts);
    }

    private static (string? Connector, string? Server) ReadKey(JsonElement key, string origin)
    {
        // Kafka Connect's offsets topic (and the file store, as tools print it) keys an offset by
        // ["<connector name>", {"server": "<topic.prefix>"}].
        if (key.ValueKind == JsonValueKind.Array && key.GetArrayLength() == 2 && key[0].ValueKind == JsonValueKind.String && key[1].ValueKind == JsonValueKind.Object)
        {
            var server = key[1].TryGetProperty("server", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            return (key[0].GetString(), server);
        }

        throw Bad(CheckpointErrorCode.Corrupt, origin, "has a key that is not Kafka Connect's [\"<connector>\", {\"server\": \"<name>\"}].");
    }

    private static string Detect(Dictionary<string, JsonElement> fields, string origin)
    {
        if (fields.ContainsKey("lsn") || fields.ContainsKey("lsn_proc") || fields.ContainsKey("lsn_commit"))
        {
            return "postgres";
        }

        if (fields.ContainsKey("file"))
        {
            if (fields.TryGetValue("gtids", out var gtids) && gtids.ValueKind == JsonValueKind.String)
            {
                return (gtids.GetString() ?? string.Empty).Contains(':', StringComparison.Ordinal) ? "mysql" : "mariadb";
            }

            throw Bad(CheckpointErrorCode.Misconfigured, origin, "is a binlog offset without 'gtids', so it cannot tell MySQL from MariaDB: pass --source mysql or --source mariadb.");
        }

        throw Bad(CheckpointErrorCode.Misconfigured, origin, "has neither 'lsn' (PostgreSQL) nor 'file' (MySQL/MariaDB): it is not an offset of a Debezium PostgreSQL, MySQL or MariaDB connector.");
    }

    private static void RefuseRunningSnapshot(Dictionary<string, JsonElement> fields, string origin)
    {
        // CommonOffsetContext: an initial or blocking snapshot is running while 'snapshot' is set and
        // 'snapshot_completed' is not true; PostgreSQL also marks the last snapshot record ('last_snapshot_record').
        if (fields.TryGetValue("snapshot", out var snapshot) && IsTruthySnapshot(snapshot)
            && !IsTrue(fields, "snapshot_completed") && !IsTrue(fields, "last_snapshot_record"))
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'snapshot' ({snapshot.GetRawText()}) says the connector stopped during its snapshot: the rows it had not read yet were never emitted, so no streaming position is equivalent. Let the snapshot finish (or re-snapshot with the new consumer) and export the offset again.");
        }

        var incremental = fields.Keys.FirstOrDefault(k => k.StartsWith("incremental_snapshot", StringComparison.Ordinal));
        if (incremental is not null)
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field '{incremental}' says an incremental snapshot is in progress: its remaining chunks cannot be carried over. Let it finish (or stop it with a stop-snapshot signal) and export the offset again.");
        }
    }

    private static bool IsTruthySnapshot(JsonElement snapshot) => snapshot.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.String => snapshot.GetString() is { } text && !string.Equals(text, "false", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    private static bool IsTrue(Dictionary<string, JsonElement> fields, string name) =>
        fields.TryGetValue(name, out var value) && (value.ValueKind == JsonValueKind.True || (value.ValueKind == JsonValueKind.String && string.Equals(value.GetString(), "true", StringComparison.OrdinalIgnoreCase)));

    private static PostgresOffset MapPostgres(Dictionary<string, JsonElement> fields, string origin, DebeziumImportSettings settings, List<string> facts)
    {
        RefuseUnknown(fields, origin, settings, InformationalPostgres, "lsn", "lsn_proc", "lsn_commit", "lsn_events_processed");
        if (settings.Slot is null)
        {
            throw new ArgumentException("--slot is required for a PostgreSQL offset: Debezium keeps the slot name in the connector's configuration (slot.name, default 'debezium'), not in the offset.");
        }

        var lsn = OptionalLsn(fields, "lsn", origin);
        var processed = OptionalLsn(fields, "lsn_proc", origin);
        var commit = OptionalLsn(fields, "lsn_commit", origin) ?? processed; // PostgresOffsetContext.Loader: lsn_commit defaults to lsn_proc
        if (fields.TryGetValue("lsn_events_processed", out var eventsProcessed) && Unsigned(eventsProcessed, "lsn_events_processed", origin) > 0)
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'lsn_events_processed' ({eventsProcessed.GetRawText()}) counts events already emitted at one LSN inside a transaction; a PostgreSQL checkpoint resumes at transaction boundaries only. Restart the connector, let it reach an idle moment, stop it and export the offset again.");
        }

        NpgsqlLogSequenceNumber resume;
        if (commit is { } c)
        {
            // Debezium flushes lsn_commit to the slot (commitOffset) and resumes from lsn_proc, skipping what it already
            // emitted. At a transaction boundary all three are the same LSN; otherwise the connector stopped inside a
            // transaction, part of which was emitted: resuming at lsn_commit would emit that part twice.
            if (processed is { } p && p != c)
            {
                throw MidTransaction(origin, "lsn_proc", p, c);
            }

            if (lsn is { } l && l != c)
            {
                throw MidTransaction(origin, "lsn", l, c);
            }

            resume = c;
            facts.Add($"lsn_commit {c} (the end of the last transaction whose commit the connector processed; Debezium confirms it to the slot)");
        }
        else if (lsn is { } l)
        {
            var atBoundary = IsTrue(fields, "last_snapshot_record") || IsTrue(fields, "snapshot_completed")
                || (fields.TryGetValue("messageType", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "COMMIT");
            if (!atBoundary)
            {
                throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'lsn' ({l}) comes without 'lsn_commit'/'lsn_proc' and is neither the end of a snapshot nor a COMMIT: it may lie inside a transaction. Restart the connector with a Debezium version that stores lsn_commit, let it commit once, stop it and export again.");
            }

            resume = l;
            facts.Add($"lsn {l} (the position streaming starts from after the completed snapshot, or a COMMIT)");
        }
        else
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, "has no 'lsn', 'lsn_proc' or 'lsn_commit': there is no position to import.");
        }

        AddInformational(fields, facts, "txId", "ts_usec", "xmin");
        try
        {
            return new PostgresOffset(resume, settings.Slot, database: settings.Database);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"--slot/--database: {CliApp.WithoutParameterSuffix(ex)}", ex);
        }
    }

    private static CheckpointException MidTransaction(string origin, string field, NpgsqlLogSequenceNumber value, NpgsqlLogSequenceNumber commit) =>
        Bad(CheckpointErrorCode.Misconfigured, origin, $"field '{field}' ({value}) differs from 'lsn_commit' ({commit}): the connector stopped inside a transaction, part of which it had already emitted, and a PostgreSQL checkpoint resumes at transaction boundaries only (resuming at lsn_commit would emit that part again). Restart the connector, let it reach an idle moment (a heartbeat helps), stop it and export the offset again.");

    private static CheckpointOffset MapBinlog(Dictionary<string, JsonElement> fields, string origin, string family, DebeziumImportSettings settings, List<string> facts)
    {
        RefuseUnknown(fields, origin, settings, InformationalBinlog, "file", "pos", "gtids", "event", "row");
        if (settings.Slot is not null || settings.Database is not null)
        {
            throw new ArgumentException($"--slot and --database apply to PostgreSQL offsets, not to a {family} offset.");
        }

        if (!fields.TryGetValue("file", out var fileElement) || fileElement.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(fileElement.GetString()))
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, "has no binlog file name in field 'file' (Debezium refuses such an offset too).");
        }

        if (!fields.TryGetValue("pos", out var posElement))
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, "has no binlog position in field 'pos'.");
        }

        BinlogPosition binlog;
        try
        {
            binlog = new BinlogPosition(fileElement.GetString()!, Unsigned(posElement, "pos", origin));
        }
        catch (ArgumentException ex)
        {
            throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'file': {CliApp.WithoutParameterSuffix(ex)}");
        }

        // BinlogOffsetContext: 'event' is the number of events after the transaction's BEGIN already emitted and 'row'
        // the rows of the next event already emitted; file/pos is then the position of that BEGIN. They are exactly the
        // skip_events/skip_rows of a binlog checkpoint.
        var skipEvents = fields.TryGetValue("event", out var e) ? Unsigned(e, "event", origin) : 0UL;
        var skipRows = fields.TryGetValue("row", out var r) ? Unsigned(r, "row", origin) : 0UL;
        var gtidText = fields.TryGetValue("gtids", out var g)
            ? g.ValueKind == JsonValueKind.String ? g.GetString()!.Replace("\n", string.Empty, StringComparison.Ordinal).Replace("\r", string.Empty, StringComparison.Ordinal)
                : throw Bad(CheckpointErrorCode.Corrupt, origin, $"field 'gtids' is {g.GetRawText()}, not a string.")
            : null;
        facts.Add($"file {binlog} (the start of the transaction to resume, or the position after the last commit)");
        if (skipEvents > 0 || skipRows > 0)
        {
            facts.Add($"event {skipEvents}, row {skipRows}: events and rows of that transaction already emitted, skipped on resume");
        }

        if (fields.TryGetValue("server_id", out var serverId))
        {
            facts.Add($"server_id {serverId.GetRawText()} not imported: Debezium takes it from the last event's header (the server that originated it), not from the server it read");
        }

        AddInformational(fields, facts, "ts_sec");
        if (family == "mysql")
        {
            GtidSet? set = null;
            if (gtidText is not null)
            {
                if (gtidText.Length > 0 && !gtidText.Contains(':', StringComparison.Ordinal))
                {
                    throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'gtids' ('{gtidText}') is a MariaDB GTID position, not a MySQL GTID set: import it with --source mariadb.");
                }

                set = Parsed(origin, "gtids", () => GtidSet.Parse(gtidText));
                facts.Add($"gtids {set} (every transaction completely processed)");
            }

            return new MySqlOffset(set, binlog, skipEvents: skipEvents, skipRows: skipRows);
        }

        MariaDbGtidPosition? position = null;
        if (gtidText is not null && gtidText.Length > 0)
        {
            if (gtidText.Contains(':', StringComparison.Ordinal))
            {
                throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'gtids' ('{gtidText}') is a MySQL GTID set, not a MariaDB GTID position: import it with --source mysql.");
            }

            // Debezium's MariaDbGtidSet keeps one GTID per (domain, server id); a GTID position keeps one per domain, so
            // two server ids in one domain cannot be reduced to a position without guessing which one came last.
            var domains = gtidText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(gtid => gtid.Split('-')[0]).GroupBy(d => d, StringComparer.Ordinal).FirstOrDefault(group => group.Count() > 1);
            if (domains is not null)
            {
                throw Bad(CheckpointErrorCode.Misconfigured, origin, $"field 'gtids' ('{gtidText}') holds several GTIDs of domain {domains.Key} (one per server id); a MariaDB GTID position holds the last GTID of each domain, and which of them came last is not in the offset. Read the position on the server (SELECT BINLOG_GTID_POS('{binlog.FileName}', {binlog.Position})) and seed it with `cdc-checkpoint seed --source mariadb`.");
            }

            position = Parsed(origin, "gtids", () => MariaDbGtidPosition.Parse(gtidText));
            facts.Add($"gtids {position} (the last GTID completely processed in each domain)");
        }

        return new MariaDbOffset(position, binlog, skipEvents: skipEvents, skipRows: skipRows);
    }

    private static void RefuseUnknown(Dictionary<string, JsonElement> fields, string origin, DebeziumImportSettings settings, HashSet<string> informational, params string[] positional)
    {
        foreach (var name in fields.Keys.Order(StringComparer.Ordinal))
        {
            if (!informational.Contains(name) && !positional.Contains(name, StringComparer.Ordinal) && !settings.IgnoredFields.Contains(name)
                && !name.StartsWith("transaction_data_collection_order_", StringComparison.Ordinal) && !name.StartsWith("incremental_snapshot", StringComparison.Ordinal))
            {
                throw Bad(CheckpointErrorCode.Misconfigured, origin, $"has field '{name}', which this tool does not know, so it cannot tell whether the field moves the position. If you have checked that it does not, pass --ignore-field {name}.");
            }
        }
    }

    private static void AddInformational(Dictionary<string, JsonElement> fields, List<string> facts, params string[] names)
    {
        foreach (var name in names)
        {
            if (fields.TryGetValue(name, out var value))
            {
                facts.Add($"{name} {value.GetRawText()} (informational)");
            }
        }
    }

    private static NpgsqlLogSequenceNumber? OptionalLsn(Dictionary<string, JsonElement> fields, string name, string origin) =>
        fields.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null ? new NpgsqlLogSequenceNumber(Unsigned(value, name, origin)) : null;

    private static ulong Unsigned(JsonElement value, string name, string origin) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var number)
            ? number
            : value.ValueKind == JsonValueKind.String && ulong.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)
                ? parsed
                : throw Bad(CheckpointErrorCode.Corrupt, origin, $"field '{name}' is {value.GetRawText()}, not an unsigned whole number.");

    private static T Parsed<T>(string origin, string field, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw Bad(CheckpointErrorCode.Corrupt, origin, $"field '{field}': {CliApp.WithoutParameterSuffix(ex)}");
        }
    }

    private static CheckpointException Bad(CheckpointErrorCode code, string origin, string message) =>
        new(code, $"Debezium offset {origin} {message.TrimEnd('.')}. Nothing was written.");
}
