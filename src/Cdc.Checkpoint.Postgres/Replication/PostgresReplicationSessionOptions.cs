using Cdc.Checkpoint.Postgres.Validation;
using Npgsql.Replication.PgOutput;

namespace Cdc.Checkpoint.Postgres.Replication;

/// <summary>Options of a <see cref="PostgresReplicationSession"/>.</summary>
public sealed class PostgresReplicationSessionOptions
{
    private readonly string _slotName = string.Empty;
    private readonly IReadOnlyList<string> _publicationNames = [];

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

    /// <summary>The resume policy.</summary>
    /// <value>Default: fail closed (see <see cref="ResumeValidationOptions"/>).</value>
    public ResumeValidationOptions Validation { get; init; } = new();

    /// <summary>The acknowledgement options.</summary>
    /// <value>Default: acknowledge every durable checkpoint; idle advance every 10 seconds.</value>
    public ReplicationAcknowledgerOptions Acknowledgement { get; init; } = new();
}
