using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cdc.Checkpoint.Leasing;

/// <summary>
/// What an owner lease file records about its holder. The kernel lock, not this record, decides who owns the
/// directory: the record says who did last, for operators and error messages.
/// </summary>
/// <param name="Host">The host name of the owner.</param>
/// <param name="ProcessId">The owner's process id.</param>
/// <param name="ProcessStartTime">
/// The owner's process start time in clock ticks since boot (Linux <c>/proc/PID/stat</c> field 22), which tells a
/// reused process id from the original owner; 0 when unknown.
/// </param>
/// <param name="AcquiredAt">When the lease was acquired.</param>
/// <param name="Epoch">Grows by one with every acquisition of the directory.</param>
public sealed record LeaseInfo(string Host, int ProcessId, ulong ProcessStartTime, DateTimeOffset AcquiredAt, long Epoch)
{
    /// <summary>The lease file's format version.</summary>
    public const int FormatVersion = 1;

    /// <summary>Human form, e.g. <c>host-a pid 4242 since 2026-11-21T23:47:31Z (epoch 7)</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Host} pid {ProcessId} since {AcquiredAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ} (epoch {Epoch})");

    /// <summary>Whether <see cref="Host"/> is this machine (compared without case, as host names are).</summary>
    public bool IsOnThisHost => string.Equals(Host, Environment.MachineName, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether the recorded process is running here: the owner is on this host and <see cref="ProcessId"/> is a live
    /// process. <see langword="false"/> for an owner on another host, whose processes cannot be seen from here. The kernel
    /// lock decides ownership, not this: a held lease whose process is not running here was inherited by a child or
    /// taken in another PID namespace.
    /// </summary>
    /// <returns>Whether the process is alive on this host.</returns>
    public bool IsProcessRunningOnThisHost() => IsOnThisHost && OwnerLease.IsProcessAlive(ProcessId);

    internal byte[] ToJsonBytes() => JsonSerializer.SerializeToUtf8Bytes(
        new LeaseFileDto
        {
            LeaseFormatVersion = FormatVersion,
            Host = Host,
            Pid = ProcessId,
            ProcessStartTime = ProcessStartTime,
            AcquiredAt = AcquiredAt,
            Epoch = Epoch,
        },
        LeaseJsonContext.Default.LeaseFileDto);

    /// <summary>Parses a lease file; <see langword="null"/> when it is empty or not a lease record.</summary>
    /// <param name="bytes">The file's bytes.</param>
    /// <returns>The record, or <see langword="null"/>.</returns>
    public static LeaseInfo? TryParse(ReadOnlySpan<byte> bytes)
    {
        var trimmed = Encoding.UTF8.GetString(bytes).Trim('\0', ' ', '\n', '\r', '\t');
        if (trimmed.Length == 0)
        {
            return null;
        }

        try
        {
            var dto = JsonSerializer.Deserialize(trimmed, LeaseJsonContext.Default.LeaseFileDto);
            if (dto is null || dto.Host is null || dto.Pid is null || dto.Epoch is null)
            {
                return null;
            }

            return new LeaseInfo(dto.Host, dto.Pid.Value, dto.ProcessStartTime ?? 0, dto.AcquiredAt ?? DateTimeOffset.UnixEpoch, dto.Epoch.Value);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

internal sealed class LeaseFileDto
{
    [JsonPropertyName("lease_format_version")]
    public int? LeaseFormatVersion { get; set; }

    [JsonPropertyName("host")]
    public string? Host { get; set; }

    [JsonPropertyName("pid")]
    public int? Pid { get; set; }

    [JsonPropertyName("process_start_time")]
    public ulong? ProcessStartTime { get; set; }

    [JsonPropertyName("acquired_at")]
    public DateTimeOffset? AcquiredAt { get; set; }

    [JsonPropertyName("epoch")]
    public long? Epoch { get; set; }
}

[JsonSerializable(typeof(LeaseFileDto))]
[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, AllowDuplicateProperties = false)]
internal sealed partial class LeaseJsonContext : JsonSerializerContext;
