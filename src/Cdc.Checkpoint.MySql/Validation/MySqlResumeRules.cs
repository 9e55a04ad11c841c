using System.Collections.Immutable;
using System.Globalization;
using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>
/// The resume decision as a pure function of the checkpoint, the server facts and the policy: no I/O, so every rule
/// (including the MySQL-only ones a MariaDB test server cannot produce) is unit-tested on constructed facts. The order
/// of the checks, and why, is in <c>docs/mysql.md</c>.
/// </summary>
internal static class MySqlResumeRules
{
    private const string Resnapshot = "take a new snapshot of the captured tables and delete (or rewind) the checkpoint";
    private const string ResnapshotSentence = "Take a new snapshot of the captured tables and delete (or rewind) the checkpoint.";

    public static MySqlResumeValidationResult Decide(CheckpointOffset? checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        if (checkpoint is null)
        {
            return server.BinaryLoggingEnabled
                ? new MySqlResumeValidationResult(
                    MySqlResumeVerdict.FreshStart,
                    isRefused: false,
                    checkpoint: null,
                    server,
                    $"No checkpoint: a fresh start on {server.Describe()}, at {server.CurrentBinlogPosition?.ToString() ?? "its current position"}.")
                : NoBinaryLogging(null, server);
        }

        return checkpoint switch
        {
            MySqlOffset mysql => DecideMySql(mysql, server, options),
            MariaDbOffset mariadb => DecideMariaDb(mariadb, server, options),
            _ => throw new ArgumentException(
                $"Checkpoint {checkpoint} is a {checkpoint.SourceType} offset ({checkpoint.GetType().Name}); the MySQL resume validator checks MySqlOffset and MariaDbOffset only.",
                nameof(checkpoint)),
        };
    }

    // ------------------------------------------------------------------------------------------------ MySQL

    private static MySqlResumeValidationResult DecideMySql(MySqlOffset checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        if (server.Flavor != MySqlServerFlavor.MySql)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} is a MySQL offset, but {where} is MariaDB: MySQL GTID sets and binlog positions mean nothing there. Point the consumer at the MySQL server the checkpoint came from, or start a MariaDB checkpoint from scratch ({Resnapshot}).");
        }

        if (!server.BinaryLoggingEnabled)
        {
            return NoBinaryLogging(checkpoint, server);
        }

        return checkpoint.GtidSet is { } gtids
            ? DecideMySqlGtid(checkpoint, gtids, server, options)
            : DecideBinlogOnly(checkpoint, checkpoint.BinlogPosition!, checkpoint.ServerUuid, checkpoint.ServerId, server, options);
    }

    private static MySqlResumeValidationResult DecideMySqlGtid(MySqlOffset checkpoint, GtidSet gtids, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        if (!string.Equals(server.GtidMode, "ON", StringComparison.OrdinalIgnoreCase))
        {
            return Verdict(MySqlResumeVerdict.Misconfigured, checkpoint, server, options,
                $"Checkpoint {checkpoint} tracks GTIDs, but gtid_mode is {server.GtidMode ?? "unknown"} on {where}: transactions without a GTID would be invisible to it. Set gtid_mode=ON (with enforce_gtid_consistency=ON, stepping through OFF_PERMISSIVE and ON_PERMISSIVE), or resume from a binlog-position checkpoint.");
        }

        var executed = server.GtidExecuted ?? GtidSet.Empty;
        var purged = server.GtidPurged ?? GtidSet.Empty;
        var sameServer = checkpoint.ServerUuid is { } uuid && server.ServerUuid == uuid;
        if (!gtids.IsEmpty && !sameServer && !SharesSource(gtids, executed.Union(purged)))
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} holds transactions of source(s) {Sources(gtids)} only, and {where} has never executed a transaction of any of them (gtid_executed '{Short(executed)}'): the checkpoint was taken on another server or replication topology. Point the consumer at the right server; to start over on this one, {Resnapshot}.");
        }

        // MySQL's rule: the checkpoint must be contained in gtid_executed.
        var unknown = gtids.Subtract(executed);
        if (!unknown.IsEmpty)
        {
            var holes = unknown.Intersect(BelowLast(executed));
            return holes.IsEmpty
                ? Verdict(MySqlResumeVerdict.CheckpointAhead, checkpoint, server, options,
                    $"Checkpoint {checkpoint} includes {Count(unknown)} transaction(s) that {where} has not executed: {unknown} (gtid_executed '{Short(executed)}'). The server is behind the checkpoint: restored from an older backup, its GTID history reset (RESET MASTER / RESET BINARY LOGS AND GTIDS), or a replica that has not caught up. Resume against the server the checkpoint came from, or wait until this one has executed them.") with
                {
                    UnknownGtids = unknown,
                }
                : Verdict(MySqlResumeVerdict.HistoryDiverged, checkpoint, server, options,
                    $"Checkpoint {checkpoint} includes transaction(s) {holes} that {where} never executed although it executed later transactions of the same source (gtid_executed '{Short(executed)}'): the histories diverged (errant transactions, or a failover to a server that missed them). Compare the sets, repair the topology, or {Resnapshot}.") with
                {
                    UnknownGtids = unknown,
                };
        }

        // Contained, but the binlog position is beyond this server's binlog: RESET MASTER / RESET BINARY LOGS AND GTIDS
        // reissued the same GTIDs for other transactions.
        var sameIdentity = sameServer || (checkpoint.ServerUuid is null && checkpoint.ServerId == server.ServerId);
        if (checkpoint.BinlogPosition is { } position && sameIdentity && CheckFile(position, server) is { State: FileState.Ahead } beyond)
        {
            return Verdict(MySqlResumeVerdict.BinlogReset, checkpoint, server, options, BeyondBinlogMessage(checkpoint, position, beyond, server));
        }

        // MySQL's other rule: no transaction still needed (executed − checkpoint) may be purged.
        var needed = executed.Subtract(gtids);
        var missing = needed.Intersect(purged);
        if (!missing.IsEmpty)
        {
            return Verdict(MySqlResumeVerdict.PositionPurged, checkpoint, server, options,
                $"{Count(missing)} transaction(s) the consumer still needs after checkpoint {checkpoint} are already purged from the binlog of {where}: {missing} (gtid_purged '{Short(purged)}'). They can no longer be streamed: {Resnapshot}, or set AcceptPurgedTransactions to continue with that gap. Raise binlog_expire_logs_seconds so the binlog outlives consumer outages.") with
            {
                PurgedGtids = missing,
            };
        }

        var identityConflict = IdentityConflict(checkpoint.ServerUuid, checkpoint.ServerId, server);
        var usable = checkpoint.BinlogPosition is { } binlog && !identityConflict && CheckFile(binlog, server).State == FileState.Available;
        if (options.RequireBinlogPosition && RequireBinlog(checkpoint, checkpoint.BinlogPosition, identityConflict, server, options) is { } refusal)
        {
            return refusal;
        }

        return Verdict(MySqlResumeVerdict.Resume, checkpoint, server, options,
            $"Checkpoint {checkpoint} can resume on {where}: it is contained in gtid_executed, and none of the {Count(needed)} transaction(s) still to stream is purged.") with
        {
            BinlogPositionUsable = usable,
        };
    }

    // ------------------------------------------------------------------------------------------------ MariaDB

    private static MySqlResumeValidationResult DecideMariaDb(MariaDbOffset checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        if (server.Flavor != MySqlServerFlavor.MariaDb)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} is a MariaDB offset, but {where} is MySQL: MariaDB GTID positions and binlog positions mean nothing there. Point the consumer at the MariaDB server the checkpoint came from, or start a MySQL checkpoint from scratch ({Resnapshot}).");
        }

        if (!server.BinaryLoggingEnabled)
        {
            return NoBinaryLogging(checkpoint, server);
        }

        return checkpoint.GtidPosition is { } position
            ? DecideMariaDbGtid(checkpoint, position, server, options)
            : DecideBinlogOnly(checkpoint, checkpoint.BinlogPosition!, null, checkpoint.ServerId, server, options);
    }

    private static MySqlResumeValidationResult DecideMariaDbGtid(MariaDbOffset checkpoint, MariaDbGtidPosition position, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        var strict = server.GtidStrictMode == true;
        if (!strict && options.RequireGtidStrictMode)
        {
            return Verdict(MySqlResumeVerdict.Misconfigured, checkpoint, server, options,
                $"gtid_strict_mode is {(server.GtidStrictMode is null ? "unknown" : "OFF")} on {where}: MariaDB may then binlog a smaller sequence number after a larger one in the same domain, so the validator cannot prove that checkpoint {checkpoint} is in the server's history. Set gtid_strict_mode=ON (SET GLOBAL and in the server configuration), or set RequireGtidStrictMode=false to validate with the weaker rules.");
        }

        var state = server.GtidBinlogState;
        var current = server.GtidBinlogPosition ?? MariaDbGtidPosition.Empty;
        var sameServerId = checkpoint.ServerId == server.ServerId;
        var knownDomains = new HashSet<uint>(state.Select(static g => g.DomainId));
        knownDomains.UnionWith(current.Gtids.Select(static g => g.DomainId));
        knownDomains.UnionWith((server.EarliestGtidPosition ?? MariaDbGtidPosition.Empty).Gtids.Select(static g => g.DomainId));

        // 1. Identity: the checkpoint's domains, then its (domain, server id) pairs, must be known to the server.
        var unknownDomains = position.Gtids.Where(g => !knownDomains.Contains(g.DomainId)).ToList();
        var ignored = ImmutableArray<uint>.Empty;
        var effective = position;
        if (unknownDomains.Count > 0)
        {
            var listed = string.Join(", ", unknownDomains.Select(static g => g.DomainId.ToString(CultureInfo.InvariantCulture)));
            if (options.IgnoreMissingDomains)
            {
                ignored = [.. unknownDomains.Select(static g => g.DomainId)];
                effective = new MariaDbGtidPosition(position.Gtids.Where(g => knownDomains.Contains(g.DomainId)));
            }
            else if (knownDomains.Count == 0 && (checkpoint.ServerId is null || sameServerId))
            {
                return Verdict(MySqlResumeVerdict.CheckpointAhead, checkpoint, server, options,
                    $"{where} has no GTID history at all (gtid_binlog_state is empty), but checkpoint {checkpoint} is at '{position}': its binlog was reset (RESET MASTER) or it is a new or restored server. Its transactions cannot be matched with the checkpoint's: {Resnapshot}.");
            }
            else if (sameServerId)
            {
                return Verdict(MySqlResumeVerdict.HistoryDiverged, checkpoint, server, options,
                    $"Checkpoint {checkpoint} was taken on server_id {server.ServerId}, but the binlog of {where} has no trace of domain(s) {listed} (gtid_binlog_state '{Short(Join(state))}'): the binlog was reset (RESET MASTER) or the domains were deleted. If they were deleted on purpose (FLUSH BINARY LOGS DELETE_DOMAIN_ID), set IgnoreMissingDomains; otherwise {Resnapshot}.");
            }
            else
            {
                return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                    $"Domain(s) {listed} of checkpoint {checkpoint} never appeared in the binlog of {where} (gtid_binlog_state '{Short(Join(state))}'): the checkpoint was taken on another server or replication topology (checkpoint server_id {Id(checkpoint.ServerId)}). Point the consumer at the right server; if those domains were removed on purpose (FLUSH BINARY LOGS DELETE_DOMAIN_ID), set IgnoreMissingDomains.");
            }
        }

        var foreign = new List<MariaDbGtid>();
        var neverBinlogged = new List<MariaDbGtid>();
        foreach (var gtid in effective.Gtids)
        {
            if (!TryGetPair(state, gtid.DomainId, gtid.ServerId, out _))
            {
                (gtid.ServerId != server.ServerId && !sameServerId ? foreign : neverBinlogged).Add(gtid);
            }
        }

        if (foreign.Count > 0)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"GTID(s) {string.Join(", ", foreign)} of checkpoint {checkpoint} were written by server_id(s) that never wrote to those domains on {where} (gtid_binlog_state '{Short(Join(state))}'): the checkpoint was taken on another server or replication topology (checkpoint server_id {Id(checkpoint.ServerId)}). Point the consumer at the right server; to start over on this one, {Resnapshot}.");
        }

        if (neverBinlogged.Count > 0)
        {
            return Verdict(MySqlResumeVerdict.HistoryDiverged, checkpoint, server, options,
                $"GTID(s) {string.Join(", ", neverBinlogged)} of checkpoint {checkpoint} are not in the binlog history of {where}: no transaction of that server_id was ever binlogged in that domain (gtid_binlog_state '{Short(Join(state))}'), so MariaDB would refuse this position too (error 1945). Find the server the checkpoint came from, or {Resnapshot}.");
        }

        // 2. The checkpoint's binlog file, when it still exists here, must be the same binlog (reset detection).
        var binlog = checkpoint.BinlogPosition;
        var identityConflict = IdentityConflict(null, checkpoint.ServerId, server);
        var file = binlog is null || identityConflict ? default : CheckFile(binlog, server);
        if (binlog is not null && file.State == FileState.Available && server.CheckpointBinlogMapping is { } mapping && mapping.Position == binlog)
        {
            if (mapping.GtidPosition is null)
            {
                return Verdict(MySqlResumeVerdict.BinlogReset, checkpoint, server, options,
                    $"Binlog position {binlog} of checkpoint {checkpoint} is not an event boundary in {binlog.FileName} on {where} (BINLOG_GTID_POS returned NULL): the file was written anew after a binlog reset (RESET MASTER) and its name reused. Resuming there would read another history: {Resnapshot}.");
            }

            if (mapping.GtidPosition.CompareTo(position) != OffsetOrder.Same)
            {
                return Verdict(MySqlResumeVerdict.BinlogReset, checkpoint, server, options,
                    $"Binlog position {binlog} of checkpoint {checkpoint} corresponds to GTID position '{mapping.GtidPosition}' on {where}, not to the checkpoint's '{position}': the binlog was reset (RESET MASTER) and the file name reused. Resuming there would read another history: {Resnapshot}.");
            }
        }

        // 3. Strict-mode sequence rules, domain by domain, against the last GTID binlogged.
        var ahead = new List<string>();
        var diverged = new List<string>();
        foreach (var gtid in effective.Gtids)
        {
            var known = current.TryGetGtid(gtid.DomainId, out var last);
            if (strict && known && gtid.SequenceNumber > last.SequenceNumber && last.ServerId != gtid.ServerId
                && TryGetPair(state, gtid.DomainId, gtid.ServerId, out var left) && left.SequenceNumber < last.SequenceNumber)
            {
                // A promoted replica after a split: the domain's history here left the checkpoint's server id at
                // sequence `left` (before the checkpoint's) and went on under another server id. The checkpoint's
                // transactions after `left` are not in this history and will not arrive by waiting.
                diverged.Add(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{gtid} (server_id {gtid.ServerId}'s last GTID in domain {gtid.DomainId} here is {left}; after it server_id {last.ServerId} wrote up to {last}, so this server's history left server_id {gtid.ServerId} before the checkpoint's sequence number: a replica promoted after a split, or a failover to a server that missed transactions. Only if server_id {gtid.ServerId} became primary again and this server is a replica still catching up will {gtid} arrive: then validate again once it has)"));
            }
            else if (!known || gtid.SequenceNumber > last.SequenceNumber)
            {
                var lastText = known ? last.ToString() : "none";
                ahead.Add(string.Create(CultureInfo.InvariantCulture, $"{gtid} (the server's last in domain {gtid.DomainId}: {lastText})"));
            }
            else if (gtid.SequenceNumber == last.SequenceNumber && gtid.ServerId != last.ServerId)
            {
                diverged.Add(string.Create(CultureInfo.InvariantCulture, $"{gtid} vs the server's {last} (the same sequence number written by another server)"));
            }
            else if (strict && TryGetPair(state, gtid.DomainId, gtid.ServerId, out var pair) && pair.SequenceNumber < gtid.SequenceNumber)
            {
                diverged.Add(string.Create(CultureInfo.InvariantCulture, $"{gtid} (server_id {gtid.ServerId}'s last GTID in domain {gtid.DomainId} here is {pair}, before it)"));
            }
        }

        if (diverged.Count > 0)
        {
            return Verdict(MySqlResumeVerdict.HistoryDiverged, checkpoint, server, options,
                $"Checkpoint {checkpoint} and the binlog of {where} disagree: {string.Join("; ", diverged)} (gtid_binlog_pos '{Short(current)}', gtid_binlog_state '{Short(Join(state))}'). The histories diverged (a failover to a server that missed transactions, or transactions written on both sides): repair the topology, or {Resnapshot}.");
        }

        if (ahead.Count > 0)
        {
            return Verdict(MySqlResumeVerdict.CheckpointAhead, checkpoint, server, options,
                $"Checkpoint {checkpoint} is ahead of {where}: {string.Join("; ", ahead)} (gtid_binlog_pos '{Short(current)}'). The server was restored from an older backup, its binlog was reset (RESET MASTER), or it is a replica that has not caught up. Resume against the server the checkpoint came from, or wait until this one has binlogged those transactions.");
        }

        // The GTIDs are there, but the binlog position is beyond the server's binlog: after RESET MASTER the sequence
        // numbers start again, so a later GTID with the same number is another transaction.
        if (binlog is not null && file.State == FileState.Ahead && (file.Listed is not null || sameServerId))
        {
            return Verdict(MySqlResumeVerdict.BinlogReset, checkpoint, server, options, BeyondBinlogMessage(checkpoint, binlog, file, server));
        }

        // 4. Every transaction after the checkpoint must still be in the binlog.
        if (server.EarliestGtidPosition is { } earliest)
        {
            var missing = new List<string>();
            foreach (var start in earliest.Gtids)
            {
                if (!effective.TryGetGtid(start.DomainId, out var mine))
                {
                    missing.Add(string.Create(CultureInfo.InvariantCulture, $"domain {start.DomainId}: every transaction up to {start}"));
                }
                else if (mine.SequenceNumber < start.SequenceNumber)
                {
                    missing.Add(string.Create(CultureInfo.InvariantCulture, $"domain {start.DomainId}: sequence numbers {mine.SequenceNumber + 1}..{start.SequenceNumber}"));
                }
            }

            if (missing.Count > 0)
            {
                var oldest = server.BinlogFiles.IsEmpty ? "the oldest binlog file" : server.BinlogFiles[0].Name;
                return Verdict(MySqlResumeVerdict.PositionPurged, checkpoint, server, options,
                    $"Transactions the consumer still needs after checkpoint {checkpoint} are purged from the binlog of {where}: {string.Join("; ", missing)} ({oldest} starts after '{earliest}'). They can no longer be streamed: {Resnapshot}, or set AcceptPurgedTransactions to continue from '{earliest}' with that gap. Raise binlog_expire_logs_seconds (expire_logs_days) so the binlog outlives consumer outages.") with
                {
                    IgnoredDomains = ignored,
                };
            }
        }

        if (options.RequireBinlogPosition && RequireBinlog(checkpoint, binlog, identityConflict, server, options) is { } refusal)
        {
            return refusal with { IgnoredDomains = ignored };
        }

        return Verdict(MySqlResumeVerdict.Resume, checkpoint, server, options,
            $"Checkpoint {checkpoint} can resume on {where}: its GTIDs are in the server's binlog history (gtid_binlog_pos '{Short(current)}') and every later transaction is still in the binlog{server.EarliestGtidPosition switch { { IsEmpty: false } e => $" (the oldest binlog file starts after '{e}')", { } => " (the oldest binlog file starts before the first GTID)", null => string.Empty }}.") with
        {
            IgnoredDomains = ignored,
            BinlogPositionUsable = binlog is not null && file.State == FileState.Available,
        };
    }

    // ------------------------------------------------------------------------------------------------ binlog position

    private static MySqlResumeValidationResult DecideBinlogOnly(
        CheckpointOffset checkpoint, BinlogPosition binlog, Guid? serverUuid, uint? serverId, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        if (serverUuid is { } uuid && server.ServerUuid is { } serverUuidNow && uuid != serverUuidNow)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} was recorded on server_uuid {uuid:D}, but this is {where}: a binlog file and position mean nothing on another server. Point the consumer at the server the checkpoint came from; to move to this one, {Resnapshot} (or use GTIDs, which survive failovers).");
        }

        if (serverId is { } id && id != server.ServerId)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} was recorded on server_id {id}, but this is {where}: a binlog file and position mean nothing on another server. Point the consumer at the server the checkpoint came from; to move to this one, {Resnapshot} (or use GTIDs, which survive failovers).");
        }

        if (FileRefusal(checkpoint, binlog, server, options) is { } refusal)
        {
            return refusal;
        }

        if (server.Flavor == MySqlServerFlavor.MariaDb && server.CheckpointBinlogMapping is { GtidPosition: null } mapping && mapping.Position == binlog)
        {
            return Verdict(MySqlResumeVerdict.BinlogReset, checkpoint, server, options,
                $"Binlog position {binlog} of checkpoint {checkpoint} is not an event boundary in {binlog.FileName} on {where} (BINLOG_GTID_POS returned NULL): the file was written anew after a binlog reset (RESET MASTER) and its name reused, or the checkpoint is corrupt. {ResnapshotSentence}");
        }

        return Verdict(MySqlResumeVerdict.Resume, checkpoint, server, options,
            $"Checkpoint {checkpoint} can resume on {where}: {binlog.FileName} is still there and the position lies inside it.") with
        {
            BinlogPositionUsable = true,
        };
    }

    private static MySqlResumeValidationResult? RequireBinlog(
        CheckpointOffset checkpoint, BinlogPosition? binlog, bool identityConflict, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        if (binlog is null)
        {
            return Verdict(MySqlResumeVerdict.Misconfigured, checkpoint, server, options,
                $"Checkpoint {checkpoint} has no binlog position, but the policy requires one (RequireBinlogPosition) because this consumer resumes by file and position. Resume by GTID instead, or record binlog positions in the checkpoint.");
        }

        if (identityConflict)
        {
            return Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"The binlog position {binlog} of checkpoint {checkpoint} was recorded on another server than {where}, and this consumer resumes by file and position (RequireBinlogPosition). Resume by GTID (which survives the failover), or point the consumer at the server the checkpoint came from.");
        }

        return FileRefusal(checkpoint, binlog, server, options);
    }

    private static MySqlResumeValidationResult? FileRefusal(CheckpointOffset checkpoint, BinlogPosition binlog, MySqlServerFacts server, MySqlResumeValidationOptions options)
    {
        var where = server.Describe();
        var file = CheckFile(binlog, server);
        return file.State switch
        {
            FileState.Available => null,
            FileState.NoFiles => Verdict(MySqlResumeVerdict.Misconfigured, checkpoint, server, options,
                $"{where} lists no binlog files (SHOW BINARY LOGS), so checkpoint {checkpoint} cannot be resumed: check that log_bin is on and that the user has the REPLICATION CLIENT (BINLOG MONITOR) privilege."),
            FileState.OtherSeries => Verdict(MySqlResumeVerdict.ServerMismatch, checkpoint, server, options,
                $"Checkpoint {checkpoint} is in the binlog series '{binlog.BaseName}', but {where} writes '{file.ServerBaseName}' ({server.BinlogFiles[0].Name}..{server.BinlogFiles[^1].Name}): another server, or log_bin was renamed. Point the consumer at the right server; otherwise {Resnapshot}."),
            FileState.Purged => Verdict(MySqlResumeVerdict.PositionPurged, checkpoint, server, options,
                $"Binlog file {binlog.FileName} of checkpoint {checkpoint} is no longer on {where} (its oldest binlog file is {server.BinlogFiles[0].Name}): the transactions between the checkpoint and that file are gone. Take a new snapshot of the captured tables and delete (or rewind) the checkpoint, or set AcceptPurgedTransactions to continue from {server.BinlogFiles[0].Name}:4 with that gap. Raise binlog_expire_logs_seconds so the binlog outlives consumer outages."),
            _ => file.Listed is not null
                ? Verdict(MySqlResumeVerdict.CheckpointAhead, checkpoint, server, options,
                    $"Checkpoint {checkpoint} is at byte {binlog.Position} of {binlog.FileName}, but that file is only {file.Size} bytes long on {where}: the binlog was reset (RESET MASTER) and the file name reused, or the server was restored from an older backup. {ResnapshotSentence}")
                : Verdict(MySqlResumeVerdict.CheckpointAhead, checkpoint, server, options,
                    $"Checkpoint {checkpoint} is in {binlog.FileName}, after the newest binlog file {server.BinlogFiles[^1].Name} of {where}: the server was restored from an older backup or its binlog was reset (RESET MASTER). Point the consumer at the server the checkpoint came from, or {Resnapshot}."),
        };
    }

    private enum FileState
    {
        NoFiles,
        Available,
        Purged,
        Ahead,
        OtherSeries,
    }

    private readonly record struct FileCheck(FileState State, BinlogFileInfo? Listed, ulong Size, string? ServerBaseName);

    private static FileCheck CheckFile(BinlogPosition binlog, MySqlServerFacts server)
    {
        var files = server.BinlogFiles;
        if (files.IsEmpty)
        {
            return new FileCheck(FileState.NoFiles, null, 0, null);
        }

        foreach (var listed in files)
        {
            if (string.Equals(listed.Name, binlog.FileName, StringComparison.Ordinal))
            {
                var size = listed.Size;
                if (server.CurrentBinlogPosition is { } now && string.Equals(now.FileName, listed.Name, StringComparison.Ordinal))
                {
                    size = Math.Max(size, now.Position);
                }

                return new FileCheck(binlog.Position <= size ? FileState.Available : FileState.Ahead, listed, size, binlog.BaseName);
            }
        }

        if (!BinlogPosition.TryValidateFileName(files[0].Name, out var firstBase, out var firstSequence, out _)
            || !BinlogPosition.TryValidateFileName(files[^1].Name, out _, out var lastSequence, out _))
        {
            return new FileCheck(FileState.OtherSeries, null, 0, files[0].Name);
        }

        var serverBase = files[0].Name[..firstBase];
        if (!string.Equals(serverBase, binlog.BaseName, StringComparison.Ordinal))
        {
            return new FileCheck(FileState.OtherSeries, null, 0, serverBase);
        }

        // Below the oldest file: purged. Above the newest: not written yet. Between (a hole in the index): gone too.
        return new FileCheck(binlog.FileSequence > lastSequence && binlog.FileSequence > firstSequence ? FileState.Ahead : FileState.Purged, null, 0, serverBase);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static string BeyondBinlogMessage(CheckpointOffset checkpoint, BinlogPosition binlog, FileCheck file, MySqlServerFacts server) =>
        file.Listed is not null
            ? $"Checkpoint {checkpoint} is at {binlog}, but {binlog.FileName} on {server.Describe()} is only {file.Size} bytes long although the server's GTID history contains the checkpoint: the binlog was reset (RESET MASTER) and the file name reused, and the GTIDs written since then are other transactions with the same numbers. {ResnapshotSentence}"
            : $"Checkpoint {checkpoint} is in {binlog.FileName}, after the newest binlog file {server.BinlogFiles[^1].Name} of {server.Describe()}, although the server's GTID history contains the checkpoint: the binlog was reset (RESET MASTER) and its numbering started again, and the GTIDs written since then are other transactions with the same numbers. {ResnapshotSentence}";

    private static MySqlResumeValidationResult NoBinaryLogging(CheckpointOffset? checkpoint, MySqlServerFacts server) =>
        new(MySqlResumeVerdict.Misconfigured, isRefused: true, checkpoint, server,
            $"Binary logging is off (log_bin=OFF) on {server.Describe()}: there is no change stream to {(checkpoint is null ? "start" : "resume checkpoint " + checkpoint)}. Start the server with log_bin, binlog_format=ROW and a unique server_id.");

    private static MySqlResumeValidationResult Verdict(
        MySqlResumeVerdict verdict, CheckpointOffset checkpoint, MySqlServerFacts server, MySqlResumeValidationOptions options, string message)
    {
        var refused = verdict switch
        {
            MySqlResumeVerdict.Resume or MySqlResumeVerdict.FreshStart => false,
            MySqlResumeVerdict.PositionPurged => !options.AcceptPurgedTransactions,
            _ => true,
        };
        return new MySqlResumeValidationResult(verdict, refused, checkpoint, server, message);
    }

    /// <summary>A conflict only when both sides know the value and it differs.</summary>
    private static bool IdentityConflict(Guid? checkpointUuid, uint? checkpointId, MySqlServerFacts server) =>
        (checkpointUuid is { } uuid && server.ServerUuid is { } serverUuid && uuid != serverUuid)
        || (checkpointId is { } id && id != server.ServerId);

    private static bool SharesSource(GtidSet checkpoint, GtidSet server)
    {
        var sources = new HashSet<Guid>(server.Entries.Select(static e => e.SourceId));
        return checkpoint.Entries.Any(e => sources.Contains(e.SourceId));
    }

    /// <summary>For each source (UUID and tag) of <paramref name="executed"/>, every transaction number below its last one.</summary>
    private static GtidSet BelowLast(GtidSet executed)
    {
        var result = GtidSet.Empty;
        foreach (var entry in executed.Entries)
        {
            var last = entry.Intervals[^1].Last;
            if (last > 1)
            {
                result = result.Add(entry.SourceId, entry.Tag, new GtidInterval(1, last - 1));
            }
        }

        return result;
    }

    private static string Sources(GtidSet set) =>
        string.Join(", ", set.Entries.Select(static e => e.Tag.Length == 0 ? e.SourceId.ToString("D") : $"{e.SourceId:D}:{e.Tag}").Distinct(StringComparer.Ordinal));

    /// <summary>Server-side state in a message, cut short: a gtid_executed with thousands of sources must not flood the log.</summary>
    private static string Short(object value)
    {
        const int Limit = 600;
        var text = value.ToString() ?? string.Empty;
        return text.Length <= Limit ? text : string.Create(CultureInfo.InvariantCulture, $"{text[..Limit]}… ({text.Length} characters)");
    }

    private static string Count(GtidSet set) => set.TransactionCount.ToString(CultureInfo.InvariantCulture);

    private static string Id(uint? id) => id?.ToString(CultureInfo.InvariantCulture) ?? "unknown";

    private static string Join(ImmutableArray<MariaDbGtid> gtids) => string.Join(',', gtids);

    private static bool TryGetPair(ImmutableArray<MariaDbGtid> state, uint domainId, uint serverId, out MariaDbGtid pair)
    {
        foreach (var gtid in state)
        {
            if (gtid.DomainId == domainId && gtid.ServerId == serverId)
            {
                pair = gtid;
                return true;
            }
        }

        pair = default;
        return false;
    }
}
