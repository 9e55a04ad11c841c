using Npgsql;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Postgres.Validation;

/// <summary>How much of the WAL a replication slot needs the server still keeps (<c>pg_replication_slots.wal_status</c>).</summary>
public enum ReplicationSlotWalStatus
{
    /// <summary>The server reported a value this library does not know, or none.</summary>
    Unknown = 0,

    /// <summary><c>reserved</c>: the slot's WAL is within <c>max_wal_size</c>.</summary>
    Reserved,

    /// <summary><c>extended</c>: past <c>max_wal_size</c>, but kept by <c>wal_keep_size</c> or <c>max_slot_wal_keep_size</c>.</summary>
    Extended,

    /// <summary><c>unreserved</c>: the slot's WAL will be removed at the next checkpoint unless the consumer catches up; act now.</summary>
    Unreserved,

    /// <summary><c>lost</c>: the WAL the slot needs is gone; resuming from it is impossible (verdict <c>SlotInvalidated</c>).</summary>
    Lost,
}

/// <summary>
/// A replication slot's WAL retention as the server reports it: <c>wal_status</c>, <c>safe_wal_size</c>, the WAL it
/// retains. Read it with <see cref="ReadAsync"/> (or <see cref="Replication.PostgresReplicationSession.ReadSlotHealthAsync"/>)
/// for a health check or an alert before the server invalidates the slot.
/// </summary>
public sealed class PostgresSlotHealth
{
    private const string Query =
        "SELECT s.active, s.active_pid, s.wal_status, s.safe_wal_size, s.restart_lsn::text, s.confirmed_flush_lsn::text, w.lsn::text " +
        "FROM pg_catalog.pg_replication_slots s, " +
        "(SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_flush_lsn() END AS lsn) w " +
        "WHERE s.slot_name = $1";

    /// <summary>The slot.</summary>
    public required string SlotName { get; init; }

    /// <summary>Whether a process streams the slot now.</summary>
    public required bool Active { get; init; }

    /// <summary>The process streaming the slot, or <see langword="null"/>.</summary>
    public int? ActivePid { get; init; }

    /// <summary>The retention state; <see cref="ReplicationSlotWalStatus.Lost"/> also when the server reports no <c>restart_lsn</c>.</summary>
    public required ReplicationSlotWalStatus WalStatus { get; init; }

    /// <summary>
    /// Bytes of WAL that can still be written before the slot is at risk of losing its WAL (<c>safe_wal_size</c>; may be
    /// negative when it is already past the limit); <see langword="null"/> when <c>max_slot_wal_keep_size = -1</c>
    /// (the server keeps the slot's WAL without limit, at the risk of filling the disk) or the slot is lost.
    /// </summary>
    public long? SafeWalSize { get; init; }

    /// <summary>The oldest WAL position the slot retains, or <see langword="null"/> when it is invalidated.</summary>
    public NpgsqlLogSequenceNumber? RestartLsn { get; init; }

    /// <summary>The position the server last heard as flushed by the consumer (the last acknowledgement it has applied).</summary>
    public NpgsqlLogSequenceNumber? ConfirmedFlushLsn { get; init; }

    /// <summary>The server's WAL flush position (replay position on a standby) when the row was read.</summary>
    public required NpgsqlLogSequenceNumber ServerWalPosition { get; init; }

    /// <summary>Bytes of WAL the slot holds on the server: <see cref="ServerWalPosition"/> − <see cref="RestartLsn"/> (0 when unknown).</summary>
    public long RetainedWalBytes => Distance(ServerWalPosition, RestartLsn);

    /// <summary>Bytes between <see cref="ServerWalPosition"/> and <see cref="ConfirmedFlushLsn"/>: what the server has not heard acknowledged (0 when unknown).</summary>
    public long ConfirmedLagBytes => Distance(ServerWalPosition, ConfirmedFlushLsn);

    /// <summary>
    /// Reads the slot's retention from <c>pg_replication_slots</c> (PostgreSQL 13 or later): one short query, no
    /// replication connection, no lock; safe to call while a session streams the slot.
    /// </summary>
    /// <param name="dataSource">SQL connections to the server that holds the slot.</param>
    /// <param name="slotName">The slot.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The slot's health, or <see langword="null"/> when the slot does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="slotName"/> is not a valid slot name.</exception>
    /// <exception cref="NpgsqlException">The server could not be queried.</exception>
    public static async Task<PostgresSlotHealth?> ReadAsync(NpgsqlDataSource dataSource, string slotName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        if (!PostgresOffset.IsValidSlotName(slotName))
        {
            throw new ArgumentException($"Invalid replication slot name '{slotName}'.", nameof(slotName));
        }

        var command = dataSource.CreateCommand(Query);
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = slotName });
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }

                NpgsqlLogSequenceNumber? restart = reader.IsDBNull(4) ? null : PostgresOffset.ParseLsn(reader.GetString(4));
                var walStatus = reader.IsDBNull(2) ? null : reader.GetString(2);
                return new PostgresSlotHealth
                {
                    SlotName = slotName,
                    Active = reader.GetBoolean(0),
                    ActivePid = reader.IsDBNull(1) ? null : reader.GetInt32(1),
                    WalStatus = restart is null ? ReplicationSlotWalStatus.Lost : ParseWalStatus(walStatus),
                    SafeWalSize = reader.IsDBNull(3) ? null : reader.GetInt64(3),
                    RestartLsn = restart,
                    ConfirmedFlushLsn = reader.IsDBNull(5) ? null : PostgresOffset.ParseLsn(reader.GetString(5)),
                    ServerWalPosition = reader.IsDBNull(6) ? default : PostgresOffset.ParseLsn(reader.GetString(6)),
                };
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"slot={SlotName} active={Active} wal_status={WalStatus} safe_wal_size={SafeWalSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unlimited"} " +
        $"retained={RetainedWalBytes}B confirmed_lag={ConfirmedLagBytes}B";

    internal static ReplicationSlotWalStatus ParseWalStatus(string? value) => value switch
    {
        "reserved" => ReplicationSlotWalStatus.Reserved,
        "extended" => ReplicationSlotWalStatus.Extended,
        "unreserved" => ReplicationSlotWalStatus.Unreserved,
        "lost" => ReplicationSlotWalStatus.Lost,
        _ => ReplicationSlotWalStatus.Unknown,
    };

    private static long Distance(NpgsqlLogSequenceNumber to, NpgsqlLogSequenceNumber? from) =>
        from is { } start && (ulong)to > (ulong)start ? (long)Math.Min((ulong)to - (ulong)start, long.MaxValue) : 0;
}
