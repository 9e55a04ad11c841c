using Cdc.Checkpoint.Postgres.Validation;
using Npgsql.Replication.PgOutput;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Options of a <see cref="PostgresReplicationSession"/>.</summary>
public sealed class PostgresReplicationSessionOptions
{
    private readonly string _slotName = string.Empty;
    private readonly IReadOnlyList<string> _publicationNames = [];
    private readonly TimeSpan? _statusInterval;

    /// <summary>The logical replication slot (1–63 characters of <c>[a-z0-9_]</c>). Required.</summary>
    public required string SlotName
    {
        get => _slotName;
        init
        {
            if (!PostgresOffset.IsValidSlotName(value))
            {
                throw new ArgumentException(
                    $"Invalid replication slot name '{value}': PostgreSQL slot names are 1-{PostgresOffset.MaxSlotNameLength} characters of lower-case letters, digits and '_'.",
                    nameof(value));
            }

            _slotName = value;
        }
    }

    /// <summary>The publications to stream (<c>publication_names</c> of pgoutput). Required, at least one.</summary>
    public required IReadOnlyList<string> PublicationNames
    {
        get => _publicationNames;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Count == 0 || value.Any(string.IsNullOrWhiteSpace))
            {
                throw new ArgumentException("Name at least one publication, and no empty names.", nameof(value));
            }

            _publicationNames = [.. value];
        }
    }

    /// <summary>The pgoutput protocol version.</summary>
    /// <value>Default <see cref="PgOutputProtocolVersion.V1"/>, which every supported server (10+) speaks.</value>
    public PgOutputProtocolVersion ProtocolVersion { get; init; } = PgOutputProtocolVersion.V1;

    /// <summary>
    /// How often a standby status update (the durable checkpoint as flushed and applied) is sent to the server while
    /// streaming, on a timer, whatever the consumer is doing between two messages. <see langword="null"/> derives it
    /// from the walsender's <c>wal_sender_timeout</c>: a third of it, at most 10 seconds (10 seconds when the timeout
    /// is disabled), so a sink slower than the timeout does not get the stream ended.
    /// </summary>
    /// <value>Default <see langword="null"/> (derived); otherwise positive, and below half of <c>wal_sender_timeout</c> to be useful.</value>
    public TimeSpan? StatusInterval
    {
        get => _statusInterval;
        init
        {
            if (value is { } interval)
            {
                ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
            }

            _statusInterval = value;
        }
    }

    /// <summary>The resume policy.</summary>
    /// <value>Default: fail closed (see <see cref="PostgresResumeValidationOptions"/>).</value>
    public PostgresResumeValidationOptions Validation { get; init; } = new();

    /// <summary>The acknowledgement options.</summary>
    /// <value>Default: acknowledge every durable checkpoint; idle advance every 10 seconds.</value>
    public ReplicationAcknowledgerOptions Acknowledgement { get; init; } = new();
}
