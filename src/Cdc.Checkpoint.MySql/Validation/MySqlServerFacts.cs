using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Cdc.Checkpoint.MySql.Gtid;

namespace Cdc.Checkpoint.MySql.Validation;

/// <summary>One binary log file as <c>SHOW BINARY LOGS</c> lists it.</summary>
/// <param name="Name">The file name, such as <c>binlog.000003</c>.</param>
/// <param name="Size">The file size in bytes (for the active file, its size when it was listed).</param>
public sealed record BinlogFileInfo(string Name, ulong Size);

/// <summary>What MariaDB's <c>BINLOG_GTID_POS(file, position)</c> returned for the checkpoint's binlog position.</summary>
/// <param name="Position">The binlog position that was mapped.</param>
/// <param name="GtidPosition">
/// The GTID position the server maps it to, or <see langword="null"/> when the server returned NULL (the position is not
/// an event boundary, lies beyond the end of the file, or the file is gone).
/// </param>
public sealed record BinlogGtidMapping(BinlogPosition Position, MariaDbGtidPosition? GtidPosition);

/// <summary>
/// The facts about a live MySQL or MariaDB server that a resume decision depends on, as read by
/// <see cref="MySqlResumeValidator.ReadServerFactsAsync"/>. Also constructible directly, for deciding with
/// <see cref="MySqlResumeValidator.Decide"/> on facts gathered elsewhere (and for tests).
/// </summary>
/// <remarks>Immutable once built.</remarks>
public sealed class MySqlServerFacts
{
    /// <summary>MySQL or MariaDB.</summary>
    public required MySqlServerFlavor Flavor { get; init; }

    /// <summary>The numeric version (major.minor.patch), such as 8.4.0 or 10.11.19.</summary>
    public required Version Version { get; init; }

    /// <summary>The full <c>@@version</c> text, such as <c>10.11.19-MariaDB-0+deb12u1-log</c>.</summary>
    /// <value>Default empty.</value>
    public string VersionText { get; init; } = string.Empty;

    /// <summary><c>@@server_id</c>.</summary>
    public uint ServerId { get; init; }

    /// <summary><c>@@server_uuid</c> (MySQL only; MariaDB has none).</summary>
    public Guid? ServerUuid { get; init; }

    /// <summary>Whether binary logging is on (<c>@@log_bin</c>).</summary>
    public bool BinaryLoggingEnabled { get; init; }

    /// <summary>The binlog files the server still has, oldest first (<c>SHOW BINARY LOGS</c>).</summary>
    /// <value>Default empty.</value>
    public ImmutableArray<BinlogFileInfo> BinlogFiles { get; init; } = [];

    /// <summary>The current write position (<c>SHOW MASTER STATUS</c>, or <c>SHOW BINARY LOG STATUS</c> on MySQL 8.2+).</summary>
    public BinlogPosition? CurrentBinlogPosition { get; init; }

    /// <summary>MySQL <c>@@gtid_mode</c> (<c>OFF</c>, <c>OFF_PERMISSIVE</c>, <c>ON_PERMISSIVE</c>, <c>ON</c>).</summary>
    public string? GtidMode { get; init; }

    /// <summary>MySQL <c>@@GLOBAL.gtid_executed</c>: every transaction the server has executed.</summary>
    public GtidSet? GtidExecuted { get; init; }

    /// <summary>MySQL <c>@@GLOBAL.gtid_purged</c>: executed transactions no longer in any binlog file.</summary>
    public GtidSet? GtidPurged { get; init; }

    /// <summary>MariaDB <c>@@GLOBAL.gtid_binlog_pos</c>: the last GTID binlogged in each domain.</summary>
    public MariaDbGtidPosition? GtidBinlogPosition { get; init; }

    /// <summary>
    /// MariaDB <c>@@GLOBAL.gtid_binlog_state</c>: the last GTID binlogged for each (domain, server id) pair, kept across
    /// purges (cleared only by <c>RESET MASTER</c>).
    /// </summary>
    /// <value>Default empty.</value>
    public ImmutableArray<MariaDbGtid> GtidBinlogState { get; init; } = [];

    /// <summary>MariaDB <c>@@GLOBAL.gtid_strict_mode</c>.</summary>
    public bool? GtidStrictMode { get; init; }

    /// <summary>MariaDB <c>@@GLOBAL.gtid_domain_id</c>.</summary>
    public uint? GtidDomainId { get; init; }

    /// <summary>
    /// MariaDB: the GTID position at the start of the oldest binlog file (<c>BINLOG_GTID_POS(oldest, 4)</c>, the file's
    /// <c>Gtid_list</c>): every transaction after it is still in the binlog, every one at or before it may be purged.
    /// </summary>
    public MariaDbGtidPosition? EarliestGtidPosition { get; init; }

    /// <summary>
    /// MariaDB: what <c>BINLOG_GTID_POS</c> returned for the checkpoint's binlog position, when that file exists on the
    /// server; <see langword="null"/> when it was not asked.
    /// </summary>
    public BinlogGtidMapping? CheckpointBinlogMapping { get; init; }

    /// <summary>The server in a few words for messages: <c>MariaDB 10.11.19 (server_id 77)</c>.</summary>
    public string Describe() =>
        Flavor == MySqlServerFlavor.MariaDb
            ? string.Create(CultureInfo.InvariantCulture, $"MariaDB {Version} (server_id {ServerId})")
            : string.Create(CultureInfo.InvariantCulture, $"MySQL {Version} (server_uuid {ServerUuid?.ToString("D") ?? "?"}, server_id {ServerId})");

    /// <summary>All facts on one line, for logs.</summary>
    /// <returns>The facts.</returns>
    public override string ToString()
    {
        var builder = new StringBuilder(Describe());
        builder.Append(CultureInfo.InvariantCulture, $"; log_bin={(BinaryLoggingEnabled ? "ON" : "OFF")}");
        if (BinlogFiles.Length > 0)
        {
            builder.Append(CultureInfo.InvariantCulture, $"; binlog files {BinlogFiles[0].Name}..{BinlogFiles[^1].Name} ({BinlogFiles.Length})");
        }

        if (CurrentBinlogPosition is not null)
        {
            builder.Append("; at ").Append(CurrentBinlogPosition);
        }

        if (Flavor == MySqlServerFlavor.MySql)
        {
            builder.Append("; gtid_mode=").Append(GtidMode ?? "?")
                .Append("; gtid_executed='").Append(GtidExecuted?.ToString() ?? "?")
                .Append("'; gtid_purged='").Append(GtidPurged?.ToString() ?? "?").Append('\'');
        }
        else
        {
            builder.Append("; gtid_binlog_pos='").Append(GtidBinlogPosition?.ToString() ?? "?")
                .Append("'; gtid_binlog_state='").Append(string.Join(',', GtidBinlogState))
                .Append("'; oldest binlog starts after '").Append(EarliestGtidPosition?.ToString() ?? "?")
                .Append("'; gtid_strict_mode=").Append(GtidStrictMode switch { true => "ON", false => "OFF", null => "?" });
            if (CheckpointBinlogMapping is { } mapping)
            {
                builder.Append("; BINLOG_GTID_POS(").Append(mapping.Position).Append(")=")
                    .Append(mapping.GtidPosition is null ? "NULL" : $"'{mapping.GtidPosition}'");
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Reads the flavour and the numeric version from <c>@@version</c> and <c>@@version_comment</c>: MariaDB says so in
    /// one of them (<c>10.11.19-MariaDB-0+deb12u1-log</c>; through some proxies <c>5.5.5-10.11.6-MariaDB</c>), anything
    /// else is MySQL (<c>8.0.36-0ubuntu0.22.04.1</c>, <c>8.4.0</c>).
    /// </summary>
    /// <param name="versionText">The value of <c>@@version</c>.</param>
    /// <param name="versionComment">The value of <c>@@version_comment</c>, if read.</param>
    /// <returns>The flavour and the version.</returns>
    /// <exception cref="FormatException">The text does not start with a version number; the message quotes it.</exception>
    public static (MySqlServerFlavor Flavor, Version Version) ParseVersion(string versionText, string? versionComment = null)
    {
        ArgumentNullException.ThrowIfNull(versionText);
        var isMariaDb = versionText.Contains("MariaDB", StringComparison.OrdinalIgnoreCase)
            || (versionComment?.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) ?? false);
        var text = versionText.Trim();
        if (isMariaDb && text.StartsWith("5.5.5-", StringComparison.Ordinal))
        {
            // The replication-compatibility prefix MariaDB 10+ adds to the version in the protocol handshake.
            text = text["5.5.5-".Length..];
        }

        var parts = new int[3];
        var count = 0;
        var pos = 0;
        while (count < 3)
        {
            var start = pos;
            while (pos < text.Length && char.IsAsciiDigit(text[pos]) && pos - start < 9)
            {
                pos++;
            }

            if (pos == start)
            {
                break;
            }

            parts[count++] = int.Parse(text.AsSpan(start, pos - start), NumberStyles.None, CultureInfo.InvariantCulture);
            if (pos < text.Length && text[pos] == '.')
            {
                pos++;
            }
            else
            {
                break;
            }
        }

        if (count < 2)
        {
            throw new FormatException($"The server version '{versionText}' does not start with major.minor; cannot tell which SQL the server understands.");
        }

        return (isMariaDb ? MySqlServerFlavor.MariaDb : MySqlServerFlavor.MySql, new Version(parts[0], parts[1], parts[2]));
    }
}
