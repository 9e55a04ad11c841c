using System.Diagnostics;
using System.Globalization;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>
/// Decides whether resuming a logical replication consumer from a checkpointed <see cref="PostgresOffset"/> is safe,
/// by comparing it with the live server: <c>IDENTIFY_SYSTEM</c> (system identifier, timeline, WAL flush position,
/// database), the timeline history, and the slot's row in <c>pg_replication_slots</c>.
/// </summary>
/// <remarks>
/// <para>
/// The order of the checks, and what each verdict means, is in <c>docs/postgres.md</c>. The default policy fails
/// closed; <see cref="PostgresResumeValidationOptions"/> has the explicit opt-ins. The validator never creates or drops a slot
/// itself; <see cref="Replication.PostgresReplicationSession"/> acts on the verdict.
/// </para>
/// <para>
/// A validation is a snapshot: the slot can move between the validation and <c>START_REPLICATION</c>. Call
/// <see cref="RecheckAfterStartAsync"/> once the server has accepted <c>START_REPLICATION</c> (the session does), when
/// the slot is held by this session and can no longer be moved by anyone else.
/// </para>
/// <para>Thread-safe; holds no connection between calls.</para>
/// </remarks>
public sealed class PostgresResumeValidator
{
    private const string SlotQuery =
        "SELECT slot_type, plugin::text, database::text, active_pid, restart_lsn::text, confirmed_flush_lsn::text, wal_status " +
        "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;

    /// <summary>Creates a validator.</summary>
    /// <param name="dataSource">SQL connections to the same server the replication connection reaches (used to read <c>pg_replication_slots</c>).</param>
    /// <param name="options">The resume policy; fail-closed defaults when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Logger factory; no logging when <see langword="null"/>.</param>
    public PostgresResumeValidator(NpgsqlDataSource dataSource, PostgresResumeValidationOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        Options = options ?? new PostgresResumeValidationOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<PostgresResumeValidator>();
    }

    /// <summary>The resume policy.</summary>
    public PostgresResumeValidationOptions Options { get; }

    /// <summary>Validates resuming <paramref name="checkpoint"/> (or a fresh start when it is <see langword="null"/>) on <paramref name="slotName"/>.</summary>
    /// <param name="replication">An open replication connection that is not streaming; <c>IDENTIFY_SYSTEM</c> and <c>TIMELINE_HISTORY</c> run on it.</param>
    /// <param name="slotName">The slot the consumer streams.</param>
    /// <param name="checkpoint">The checkpointed offset, or <see langword="null"/> when there is none.</param>
    /// <param name="cancellationToken">Cancels the validation.</param>
    /// <returns>The verdict and the facts; never throws for an unsafe verdict (see <see cref="PostgresResumeValidationResult.ThrowIfRefused"/>).</returns>
    /// <exception cref="ArgumentException">The slot name is invalid, or the checkpoint belongs to another slot.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.Misconfigured"/>: the checkpoint names a slot PostgreSQL cannot have (a legacy rustcdc
    /// record, <see cref="PostgresOffset.HasValidSlotName"/>).
    /// </exception>
    /// <exception cref="NpgsqlException">The server could not be queried.</exception>
    public async Task<PostgresResumeValidationResult> ValidateAsync(
        LogicalReplicationConnection replication,
        string slotName,
        PostgresOffset? checkpoint,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replication);
        ValidateSlotName(slotName);
        using var activity = PostgresActivitySource.Source.StartActivity("cdc.checkpoint.validate", ActivityKind.Client);
        activity?.SetTag("cdc.source_type", PostgresOffset.StreamingSourceType);
        activity?.SetTag("cdc.slot", slotName);
        if (checkpoint is { HasValidSlotName: false })
        {
            throw new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"Checkpoint {checkpoint} names replication slot {OffsetJsonText.Quote(checkpoint.SlotName)}, which is not a valid PostgreSQL slot name (1-{PostgresOffset.MaxSlotNameLength} characters of [a-z0-9_]), so no server has such a slot: the record was written by rustcdc, which did not check slot names. Resuming from it is refused. Find the slot the consumer really streamed (SELECT slot_name, confirmed_flush_lsn FROM pg_replication_slots) and record it with `cdc-checkpoint rewind DIR --source postgres --slot <slot> --lsn <X/Y> --count <N> --reason \"...\"`.");
        }

        if (checkpoint is not null && !string.Equals(checkpoint.SlotName, slotName, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"Checkpoint {checkpoint} belongs to slot '{checkpoint.SlotName}', not to '{slotName}': validate it against its own slot.",
                nameof(checkpoint));
        }

        var identity = await replication.IdentifySystem(cancellationToken).ConfigureAwait(false);
        var systemIdentifier = ulong.Parse(identity.SystemId, NumberStyles.None, CultureInfo.InvariantCulture);
        NpgsqlLogSequenceNumber? switchPoint = null;
        string? historyProblem = null;
        if (checkpoint?.Timeline is { } checkpointTimeline && checkpointTimeline < identity.Timeline)
        {
            (var history, historyProblem) = await ReadTimelineHistoryAsync(replication, identity.Timeline, cancellationToken).ConfigureAwait(false);
            switchPoint = history?.SwitchPointOf(checkpointTimeline);
        }

        var slot = await ReadSlotAsync(slotName, cancellationToken).ConfigureAwait(false);
        var facts = new PostgresResumeFacts
        {
            SlotName = slotName,
            Checkpoint = checkpoint,
            ServerSystemIdentifier = systemIdentifier,
            ServerTimeline = identity.Timeline,
            ServerWalPosition = identity.XLogPos,
            ServerDatabase = identity.DbName ?? string.Empty,
            Slot = slot,
            TimelineSwitchPoint = switchPoint,
            TimelineHistoryProblem = historyProblem,
        };

        var result = Decide(facts, Options);
        Report(result);
        if (activity is not null)
        {
            activity.SetTag("cdc.verdict", result.Verdict.ToString());
            activity.SetTag("cdc.action", result.Action.ToString());
            if (result.Action == PostgresResumeAction.Refuse)
            {
                PostgresActivitySource.SetError(activity, (result.ErrorCode ?? CheckpointErrorCode.Misconfigured).ToString(), result.Message);
            }
        }

        return result;
    }

    /// <summary>Reads the slot's row in <c>pg_replication_slots</c>.</summary>
    /// <param name="slotName">The slot.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The row, or <see langword="null"/> when the slot does not exist.</returns>
    /// <exception cref="NpgsqlException">The server could not be queried.</exception>
    public Task<ReplicationSlotFacts?> ReadSlotAsync(string slotName, CancellationToken cancellationToken = default)
    {
        ValidateSlotName(slotName);
        return ReadSlotRowAsync(_dataSource, slotName, cancellationToken);
    }

    internal static async Task<ReplicationSlotFacts?> ReadSlotRowAsync(NpgsqlDataSource dataSource, string slotName, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = new NpgsqlCommand(SlotQuery, connection) { Parameters = { new NpgsqlParameter { Value = slotName } } };
            await using (command.ConfigureAwait(false))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return null;
                    }

                    return new ReplicationSlotFacts
                    {
                        SlotName = slotName,
                        SlotType = reader.GetString(0),
                        Plugin = reader.IsDBNull(1) ? null : reader.GetString(1),
                        Database = reader.IsDBNull(2) ? null : reader.GetString(2),
                        ActivePid = reader.IsDBNull(3) ? null : reader.GetInt32(3),
                        RestartLsn = reader.IsDBNull(4) ? null : PostgresOffset.ParseLsn(reader.GetString(4)),
                        ConfirmedFlushLsn = reader.IsDBNull(5) ? null : PostgresOffset.ParseLsn(reader.GetString(5)),
                        WalStatus = reader.IsDBNull(6) ? null : reader.GetString(6),
                    };
                }
            }
        }
    }

    // TIMELINE_HISTORY through Npgsql 10 fails on PostgreSQL 15 (it reads the content column as bytea, the server
    // sends text: InvalidCastException); the history file is then read through SQL, which needs superuser or
    // pg_read_server_files. Without the history the timeline check fails closed.
    private async Task<(TimelineHistory? History, string? Problem)> ReadTimelineHistoryAsync(
        LogicalReplicationConnection replication, uint timeline, CancellationToken cancellationToken)
    {
        try
        {
            var file = await replication.TimelineHistory(timeline, cancellationToken).ConfigureAwait(false);
            return (TimelineHistory.Parse(file.Content), null);
        }
        catch (InvalidCastException)
        {
            // Fall through to SQL.
        }

        var fileName = string.Create(CultureInfo.InvariantCulture, $"pg_wal/{timeline:X8}.history");
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var command = new NpgsqlCommand("SELECT pg_read_binary_file($1)", connection) { Parameters = { new NpgsqlParameter { Value = fileName } } };
                await using (command.ConfigureAwait(false))
                {
                    var content = (byte[])(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                    return (TimelineHistory.Parse(content), null);
                }
            }
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.UndefinedFile)
        {
            return (null, $"the timeline history {fileName} could not be read ({ex.MessageText}); grant the consumer's role pg_read_server_files, or check the history by hand");
        }
        catch (FormatException ex)
        {
            return (null, $"the timeline history {fileName} is malformed ({ex.Message})");
        }
    }

    /// <summary>
    /// Checks, once <c>START_REPLICATION</c> has been sent, that the slot is held by this session and has not moved past
    /// the start position since the validation (which would make the server skip the transactions in between).
    /// </summary>
    /// <param name="validation">The validation the replication was started on.</param>
    /// <param name="startLsn">The LSN replication was started at.</param>
    /// <param name="walSenderProcessId">The replication connection's backend process (<c>ReplicationConnection.ProcessID</c>).</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>
    /// <see langword="true"/> when the slot is active in <paramref name="walSenderProcessId"/> and consistent;
    /// <see langword="false"/> when it is not (yet) shown as held by that process — poll again.
    /// </returns>
    /// <exception cref="CheckpointException">The slot disappeared, was invalidated, changed plugin or database, or moved past <paramref name="startLsn"/>.</exception>
    public Task<bool> RecheckAfterStartAsync(
        PostgresResumeValidationResult validation,
        NpgsqlLogSequenceNumber startLsn,
        int walSenderProcessId,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(validation);
        return RecheckSlotAsync(_dataSource, Options.OutputPlugin, _logger, validation, startLsn, walSenderProcessId, cancellationToken);
    }

    /// <summary>
    /// The check after <c>START_REPLICATION</c> without a validator: reads the slot again and compares it with the facts
    /// the validation decided on (used by the session, which validates once).
    /// </summary>
    internal static async Task<bool> RecheckSlotAsync(
        NpgsqlDataSource dataSource,
        string outputPlugin,
        ILogger logger,
        PostgresResumeValidationResult validation,
        NpgsqlLogSequenceNumber startLsn,
        int walSenderProcessId,
        CancellationToken cancellationToken)
    {
        var slotName = validation.Facts.SlotName;
        var slot = await ReadSlotRowAsync(dataSource, slotName, cancellationToken).ConfigureAwait(false);
        var failure = RecheckFailure(validation, slot, startLsn, outputPlugin);
        if (failure is not null)
        {
            Log.RecheckFailed(logger, slotName, failure.Message);
            throw failure;
        }

        if (slot!.ActivePid != walSenderProcessId)
        {
            return false;
        }

        Log.RecheckPassed(logger, slotName, walSenderProcessId, startLsn, slot);
        return true;
    }

    internal static CheckpointException? RecheckFailure(PostgresResumeValidationResult validation, ReplicationSlotFacts? slot, NpgsqlLogSequenceNumber startLsn, string outputPlugin)
    {
        var facts = validation.Facts;
        var name = facts.SlotName;
        const string Stale = "changed between the resume validation and START_REPLICATION";
        if (slot is null)
        {
            return new CheckpointException(
                CheckpointErrorCode.PositionUnavailable,
                $"Replication slot '{name}' {Stale}: it no longer exists. Another process dropped it; nothing was consumed. Find out who drops the slot, then start again (the validation will report the missing slot).");
        }

        if (IsInvalidated(slot))
        {
            return new CheckpointException(
                CheckpointErrorCode.PositionUnavailable,
                $"Replication slot '{name}' {Stale}: it was invalidated ({slot}). The WAL it needed is gone; see the SlotInvalidated action in docs/postgres.md.");
        }

        if (!string.Equals(slot.SlotType, "logical", StringComparison.Ordinal)
            || !string.Equals(slot.Plugin, outputPlugin, StringComparison.Ordinal)
            || !string.Equals(slot.Database, facts.ServerDatabase, StringComparison.Ordinal))
        {
            return new CheckpointException(
                CheckpointErrorCode.Misconfigured,
                $"Replication slot '{name}' {Stale}: it was re-created with another plugin or database ({slot}). Stop the consumer and find out who re-creates the slot.");
        }

        if (slot.ConfirmedFlushLsn is { } confirmed && confirmed > startLsn)
        {
            return new CheckpointException(
                CheckpointErrorCode.PositionUnavailable,
                $"Replication slot '{name}' {Stale}: its confirmed_flush_lsn moved to {PostgresOffset.FormatLsn(confirmed)}, past the start position {PostgresOffset.FormatLsn(startLsn)}, so the server skips the transactions in between (events lost). Another process advanced or re-created the slot; nothing was delivered. Find out who moves the slot, then validate again.");
        }

        return null;
    }

    internal static PostgresResumeValidationResult Decide(PostgresResumeFacts facts, PostgresResumeValidationOptions options)
    {
        var slot = facts.Slot;
        var checkpoint = facts.Checkpoint;
        var name = facts.SlotName;
        var server = string.Create(CultureInfo.InvariantCulture, $"server {facts.ServerSystemIdentifier} (timeline {facts.ServerTimeline}, database '{facts.ServerDatabase}')");

        if (checkpoint is null)
        {
            if (slot is null)
            {
                return Result(PostgresResumeVerdict.FreshStart, PostgresResumeAction.CreateSlot, null, null,
                    $"No checkpoint and no replication slot '{name}' on {server}: fresh start; the slot is created and its consistent point recorded as the first checkpoint.");
            }

            if (UnusableSlot(facts, options) is { } unusable)
            {
                return unusable;
            }

            if (IsInvalidated(slot))
            {
                return Invalidated(facts, options, server);
            }

            if (slot.ActivePid is { } holder)
            {
                return InUse(facts, holder);
            }

            var adoptAt = slot.ConfirmedFlushLsn;
            return Result(PostgresResumeVerdict.SlotWithoutCheckpoint, options.AdoptSlotWithoutCheckpoint ? PostgresResumeAction.StartAtSlot : PostgresResumeAction.Refuse, adoptAt, CheckpointErrorCode.Misconfigured,
                $"Replication slot '{name}' exists on {server} (confirmed_flush_lsn {ReplicationSlotFacts.Format(adoptAt)}) but there is no checkpoint for it. Either the checkpoint was lost — resuming from the slot would silently skip what the slot acknowledged after it — or the slot belongs to another consumer. "
                + (options.AdoptSlotWithoutCheckpoint
                    ? "AdoptSlotWithoutCheckpoint is set: starting from the slot's confirmed_flush_lsn."
                    : $"Restore the checkpoint; or drop the slot (SELECT pg_drop_replication_slot('{name}')) to start fresh; or, if the slot is this consumer's and no checkpoint was lost, set PostgresResumeValidationOptions.AdoptSlotWithoutCheckpoint."));
        }

        var lsn = PostgresOffset.FormatLsn(checkpoint.Lsn);
        if (checkpoint.SystemIdentifier is { } system && system != facts.ServerSystemIdentifier)
        {
            return Result(PostgresResumeVerdict.SystemMismatch, PostgresResumeAction.Refuse, null, CheckpointErrorCode.ServerMismatch,
                $"Checkpoint {checkpoint} was taken on the cluster with system identifier {system}, but {server} has system identifier {facts.ServerSystemIdentifier}: another initdb (a different cluster, a logical restore, or a new server behind the same address). LSNs of different clusters are unrelated. Point the consumer at the original cluster, or re-snapshot the published tables and reset the checkpoint (`cdc-checkpoint reset`).");
        }

        if (checkpoint.Database is { } database && !string.Equals(database, facts.ServerDatabase, StringComparison.Ordinal))
        {
            return Result(PostgresResumeVerdict.WrongDatabase, PostgresResumeAction.Refuse, null, CheckpointErrorCode.Misconfigured,
                $"Checkpoint {checkpoint} belongs to database '{database}', but the replication connection is attached to '{facts.ServerDatabase}' on {server}. Fix the Database of the connection string.");
        }

        var onNewTimeline = false;
        if (checkpoint.Timeline is { } timeline && timeline != facts.ServerTimeline)
        {
            if (timeline < facts.ServerTimeline && facts.TimelineSwitchPoint is null && facts.TimelineHistoryProblem is { } problem)
            {
                return Result(PostgresResumeVerdict.TimelineDiverged, PostgresResumeAction.Refuse, null, CheckpointErrorCode.HistoryDiverged,
                    $"Checkpoint {checkpoint} is on timeline {timeline}, but {server} is on timeline {facts.ServerTimeline} and {problem}. Without the history it cannot be shown that the checkpoint lies before the switch point, so resuming is refused.");
            }

            if (timeline > facts.ServerTimeline || facts.TimelineSwitchPoint is null)
            {
                return Result(PostgresResumeVerdict.TimelineDiverged, PostgresResumeAction.Refuse, null, CheckpointErrorCode.HistoryDiverged,
                    $"Checkpoint {checkpoint} is on timeline {timeline}, which is not in the history of {server}: the server was restored or failed over to a history that never contained the checkpoint. The changes the consumer processed may not exist on this server. Re-snapshot the published tables and reset the checkpoint, or point the consumer at the server that owns timeline {timeline}.");
            }

            var switchPoint = facts.TimelineSwitchPoint.Value;
            if (checkpoint.Lsn > switchPoint)
            {
                return Result(PostgresResumeVerdict.TimelineDiverged, PostgresResumeAction.Refuse, null, CheckpointErrorCode.HistoryDiverged,
                    $"Checkpoint {checkpoint} lies past the end of timeline {timeline}, which ended at {PostgresOffset.FormatLsn(switchPoint)} in the history of {server}: the consumer processed changes of the old primary that never reached the new one, and the new timeline has different changes at those positions. Reconcile the sink with the new primary, re-snapshot the published tables and reset the checkpoint.");
            }

            onNewTimeline = true;
        }

        if (checkpoint.Lsn > facts.ServerWalPosition)
        {
            return Result(PostgresResumeVerdict.CheckpointAhead, PostgresResumeAction.Refuse, null, CheckpointErrorCode.CheckpointAhead,
                $"Checkpoint {checkpoint} is ahead of the WAL flush position {PostgresOffset.FormatLsn(facts.ServerWalPosition)} of {server}: this server never wrote that position. It was restored from a backup taken before the checkpoint, or the checkpoint belongs to another server. Do not resume: point the consumer at the right server, or re-snapshot and reset the checkpoint.");
        }

        if (slot is null)
        {
            return Result(PostgresResumeVerdict.SlotMissing, options.RecreateLostSlot ? PostgresResumeAction.CreateSlot : PostgresResumeAction.Refuse, null, CheckpointErrorCode.PositionUnavailable,
                $"Replication slot '{name}' does not exist on {server}, but checkpoint {checkpoint} was taken on it: it was dropped, and the changes after {lsn} are no longer retained. A new slot would start at the server's current position and silently skip them. "
                + (options.RecreateLostSlot
                    ? "RecreateLostSlot is set: creating the slot again; the changes since the checkpoint are lost."
                    : "Re-snapshot the published tables and reset the checkpoint; or, if losing the changes since the checkpoint is acceptable, set PostgresResumeValidationOptions.RecreateLostSlot."));
        }

        if (UnusableSlot(facts, options) is { } wrong)
        {
            return wrong;
        }

        if (IsInvalidated(slot))
        {
            return Invalidated(facts, options, server);
        }

        if (slot.ActivePid is { } pid)
        {
            return InUse(facts, pid);
        }

        if (slot.ConfirmedFlushLsn is { } confirmedFlush && confirmedFlush > checkpoint.Lsn)
        {
            var confirmed = PostgresOffset.FormatLsn(confirmedFlush);
            return Result(PostgresResumeVerdict.SlotAhead, options.AcceptSlotAhead ? PostgresResumeAction.StartAtSlot : PostgresResumeAction.Refuse, confirmedFlush, CheckpointErrorCode.PositionUnavailable,
                $"Replication slot '{name}' on {server} has confirmed_flush_lsn {confirmed}, ahead of checkpoint {lsn}: the server would silently skip every transaction committed between them (events lost). The slot was dropped and re-created, advanced (pg_replication_slot_advance) or consumed by another process, or the checkpoint was restored from an older copy. "
                + (options.AcceptSlotAhead
                    ? $"AcceptSlotAhead is set: continuing from {confirmed}; the changes in between are lost."
                    : $"Re-snapshot the published tables and reset the checkpoint; or, if the changes between {lsn} and {confirmed} are not needed, set PostgresResumeValidationOptions.AcceptSlotAhead."));
        }

        return onNewTimeline
            ? Result(PostgresResumeVerdict.ResumeOnNewTimeline, PostgresResumeAction.StartAtCheckpoint, checkpoint.Lsn, null,
                $"Resuming slot '{name}' at {lsn} on {server}: the checkpoint's timeline {checkpoint.Timeline} ended at {PostgresOffset.FormatLsn(facts.TimelineSwitchPoint!.Value)}, after the checkpoint, so every later change is on the new timeline.")
            : Result(PostgresResumeVerdict.Resume, PostgresResumeAction.StartAtCheckpoint, checkpoint.Lsn, null,
                $"Resuming slot '{name}' at {lsn} on {server} (slot confirmed_flush_lsn {ReplicationSlotFacts.Format(slot.ConfirmedFlushLsn)}).");

        PostgresResumeValidationResult Result(PostgresResumeVerdict verdict, PostgresResumeAction action, NpgsqlLogSequenceNumber? start, CheckpointErrorCode? code, string message) =>
            new(verdict, action, facts, action is PostgresResumeAction.StartAtCheckpoint or PostgresResumeAction.StartAtSlot ? start : null, message, code);
    }

    private static PostgresResumeValidationResult? UnusableSlot(PostgresResumeFacts facts, PostgresResumeValidationOptions options)
    {
        var slot = facts.Slot!;
        var name = facts.SlotName;
        if (!string.Equals(slot.SlotType, "logical", StringComparison.Ordinal) || !string.Equals(slot.Plugin, options.OutputPlugin, StringComparison.Ordinal))
        {
            return new PostgresResumeValidationResult(PostgresResumeVerdict.WrongPlugin, PostgresResumeAction.Refuse, facts, null,
                $"Replication slot '{name}' is a {slot.SlotType} slot with plugin '{slot.Plugin ?? "(none)"}'; this consumer decodes logical '{options.OutputPlugin}'. Use another slot name, or drop the slot and create it with {options.OutputPlugin} (then re-snapshot).",
                CheckpointErrorCode.Misconfigured);
        }

        if (!string.Equals(slot.Database, facts.ServerDatabase, StringComparison.Ordinal))
        {
            return new PostgresResumeValidationResult(PostgresResumeVerdict.WrongDatabase, PostgresResumeAction.Refuse, facts, null,
                $"Replication slot '{name}' belongs to database '{slot.Database}', but the replication connection is attached to '{facts.ServerDatabase}'. Logical slots decode one database: fix the Database of the connection string or use another slot name.",
                CheckpointErrorCode.Misconfigured);
        }

        return null;
    }

    private static PostgresResumeValidationResult Invalidated(PostgresResumeFacts facts, PostgresResumeValidationOptions options, string server)
    {
        var name = facts.SlotName;
        return new PostgresResumeValidationResult(
            PostgresResumeVerdict.SlotInvalidated,
            options.RecreateLostSlot ? PostgresResumeAction.RecreateSlot : PostgresResumeAction.Refuse,
            facts,
            null,
            $"Replication slot '{name}' on {server} has been invalidated ({facts.Slot}): the server removed WAL the slot needed, usually because max_slot_wal_keep_size was exceeded while the consumer was down or slow. The changes after {(facts.Checkpoint is { } c ? PostgresOffset.FormatLsn(c.Lsn) : "the slot's position")} are gone. "
            + (options.RecreateLostSlot
                ? "RecreateLostSlot is set: dropping and creating the slot again; those changes are lost."
                : $"Drop the slot (SELECT pg_drop_replication_slot('{name}')), re-snapshot the published tables and reset the checkpoint; or set PostgresResumeValidationOptions.RecreateLostSlot to accept the gap. Raise max_slot_wal_keep_size to prevent it."),
            CheckpointErrorCode.PositionUnavailable);
    }

    private static PostgresResumeValidationResult InUse(PostgresResumeFacts facts, int pid) =>
        new(PostgresResumeVerdict.SlotInUse, PostgresResumeAction.Refuse, facts, null,
            string.Create(CultureInfo.InvariantCulture, $"Replication slot '{facts.SlotName}' is active in server process {pid}: another consumer is streaming it, and a slot has one consumer at a time. Stop the other consumer — or, if it is a leftover session, end it with SELECT pg_terminate_backend({pid}) — and retry (this error is transient)."),
            CheckpointErrorCode.InUse);

    private static bool IsInvalidated(ReplicationSlotFacts slot) =>
        string.Equals(slot.WalStatus, "lost", StringComparison.Ordinal) || slot.RestartLsn is null;

    private static void ValidateSlotName(string slotName)
    {
        ArgumentNullException.ThrowIfNull(slotName);
        if (!PostgresOffset.IsValidSlotName(slotName))
        {
            throw new ArgumentException(
                $"Invalid replication slot name '{slotName}': PostgreSQL slot names are 1-{PostgresOffset.MaxSlotNameLength} characters of lower-case letters, digits and '_'.",
                nameof(slotName));
        }
    }

    private void Report(PostgresResumeValidationResult result)
    {
        PostgresMetrics.RecordVerdict(result);
        var facts = result.Facts;
        if (result.IsRefused)
        {
            Log.ResumeRefused(_logger, result.Facts.SlotName, result.Verdict, result.Message, facts);
        }
        else if (result.GapAccepted)
        {
            Log.GapAccepted(_logger, result.Facts.SlotName, result.Verdict, result.Action, result.Message, facts);
        }
        else
        {
            Log.ResumeValidated(_logger, result.Facts.SlotName, result.Verdict, result.Action, facts);
        }
    }
}
