using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>
/// A position in a MySQL or MariaDB binary log: the binlog file name (such as <c>mysql-bin.000123</c>) and the byte
/// offset inside it. Text form <c>file:position</c>, for example <c>mysql-bin.000123:4</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>File names.</b> A binlog file name is a base name, a dot and a decimal sequence number
/// (<c>mysql-bin.000123</c> → <see cref="BaseName"/> <c>mysql-bin</c>, <see cref="FileSequence"/> 123), at most
/// <see cref="MaxFileNameLength"/> characters, with no directory part: no <c>/</c> or <c>\</c>, no <c>..</c>, no
/// <c>:</c>, no control characters and no leading or trailing whitespace. The name is kept exactly as given (the
/// server needs the same spelling to resume).
/// </para>
/// <para>
/// <b>Order.</b> <see cref="CompareTo"/> compares positions in the same series of files only: different base names are
/// <see cref="OffsetOrder.Diverged"/> (another server or another <c>log_bin</c> setting). Otherwise the file sequence
/// number decides (so <c>mysql-bin.999999</c> is before <c>mysql-bin.1000000</c>), then the byte position. Two names
/// with the same base and sequence number but different zero padding are <see cref="OffsetOrder.Diverged"/>: MySQL
/// never produces both, so one of them is not from this server.
/// </para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class BinlogPosition : IEquatable<BinlogPosition>, IParsable<BinlogPosition>
{
    /// <summary>The longest accepted binlog file name (a file name component on common file systems).</summary>
    public const int MaxFileNameLength = 255;

    /// <summary>Creates a binlog position.</summary>
    /// <param name="fileName">The binlog file name, such as <c>mysql-bin.000123</c> (see the remarks for the rules).</param>
    /// <param name="position">The byte offset in the file.</param>
    /// <exception cref="ArgumentNullException"><paramref name="fileName"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="fileName"/> is not a valid binlog file name.</exception>
    public BinlogPosition(string fileName, ulong position)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        if (!TryValidateFileName(fileName, out var baseLength, out var sequence, out var error))
        {
            throw new ArgumentException($"Invalid binlog file name {OffsetJsonText.Quote(fileName)}: {error}.", nameof(fileName));
        }

        FileName = fileName;
        Position = position;
        BaseName = fileName[..baseLength];
        FileSequence = sequence;
    }

    /// <summary>The binlog file name, exactly as given (such as <c>mysql-bin.000123</c>).</summary>
    public string FileName { get; }

    /// <summary>The byte offset in the file.</summary>
    public ulong Position { get; }

    /// <summary>The file name without its numeric suffix (such as <c>mysql-bin</c>).</summary>
    public string BaseName { get; }

    /// <summary>The numeric suffix of the file name (123 for <c>mysql-bin.000123</c>).</summary>
    public ulong FileSequence { get; }

    /// <summary>Parses <c>file:position</c>, such as <c>mysql-bin.000123:4</c>.</summary>
    /// <param name="text">The text; surrounding whitespace is allowed.</param>
    /// <returns>The position.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">The text is not <c>file:position</c> with a valid file name; the message quotes it.</exception>
    public static BinlogPosition Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, out var result, out var error)
            ? result
            : throw new FormatException($"Invalid binlog position {OffsetJsonText.Quote(text)}: {error}. Expected file:position, such as 'mysql-bin.000123:4'.");
    }

    /// <summary>Parses <c>file:position</c> without throwing.</summary>
    /// <param name="text">The text; <see langword="null"/> fails.</param>
    /// <param name="result">The position, when valid.</param>
    /// <returns><see langword="true"/> when the text is a valid binlog position.</returns>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out BinlogPosition? result)
    {
        result = null;
        return text is not null && TryParseCore(text, out result, out _);
    }

    /// <inheritdoc />
    static BinlogPosition IParsable<BinlogPosition>.Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <inheritdoc />
    static bool IParsable<BinlogPosition>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, [MaybeNullWhen(false)] out BinlogPosition result) =>
        TryParse(s, out result);

    /// <summary>Whether <paramref name="fileName"/> is a valid binlog file name (see the remarks on <see cref="BinlogPosition"/>).</summary>
    /// <param name="fileName">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValidFileName([NotNullWhen(true)] string? fileName) =>
        fileName is not null && TryValidateFileName(fileName, out _, out _, out _);

    /// <summary>
    /// Where this position stands relative to <paramref name="other"/> (see the remarks on <see cref="BinlogPosition"/>).
    /// </summary>
    /// <param name="other">The other position.</param>
    /// <returns>The order.</returns>
    public OffsetOrder CompareTo(BinlogPosition other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!string.Equals(BaseName, other.BaseName, StringComparison.Ordinal))
        {
            return OffsetOrder.Diverged;
        }

        if (FileSequence != other.FileSequence)
        {
            return FileSequence > other.FileSequence ? OffsetOrder.After : OffsetOrder.Before;
        }

        if (!string.Equals(FileName, other.FileName, StringComparison.Ordinal))
        {
            return OffsetOrder.Diverged;
        }

        return Position == other.Position ? OffsetOrder.Same : Position > other.Position ? OffsetOrder.After : OffsetOrder.Before;
    }

    /// <inheritdoc />
    public bool Equals(BinlogPosition? other) =>
        other is not null && Position == other.Position && string.Equals(FileName, other.FileName, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as BinlogPosition);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(StringComparer.Ordinal.GetHashCode(FileName), Position);

    /// <summary>The position as <c>file:position</c>.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{FileName}:{Position}");

    /// <summary>Equality of file name and position.</summary>
    public static bool operator ==(BinlogPosition? left, BinlogPosition? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Inequality of file name or position.</summary>
    public static bool operator !=(BinlogPosition? left, BinlogPosition? right) => !(left == right);

    internal static bool TryValidateFileName(string fileName, out int baseLength, out ulong sequence, [NotNullWhen(false)] out string? error)
    {
        baseLength = 0;
        sequence = 0;
        if (fileName.Length == 0)
        {
            error = "the name is empty";
            return false;
        }

        if (fileName.Length > MaxFileNameLength)
        {
            error = $"the name is {fileName.Length} characters long; at most {MaxFileNameLength} are allowed";
            return false;
        }

        for (var i = 0; i < fileName.Length; i++)
        {
            var c = fileName[i];
            if (char.IsSurrogate(c))
            {
                // A lone surrogate cannot be written as UTF-8 (JSON, the server protocol); a proper pair is one character.
                if (!char.IsHighSurrogate(c) || i + 1 == fileName.Length || !char.IsLowSurrogate(fileName[i + 1]))
                {
                    error = "the name is not valid UTF-16 (it has an unpaired surrogate)";
                    return false;
                }

                i++;
                continue;
            }

            if (c is '/' or '\\')
            {
                error = "a binlog file name has no directory part ('/' or '\\'); give the file name only";
                return false;
            }

            if (c == ':')
            {
                error = "':' is not allowed in a binlog file name";
                return false;
            }

            if (char.IsControl(c))
            {
                error = "control characters are not allowed in a binlog file name";
                return false;
            }
        }

        if (fileName.Contains("..", StringComparison.Ordinal))
        {
            error = "'..' is not allowed in a binlog file name";
            return false;
        }

        if (char.IsWhiteSpace(fileName[0]) || char.IsWhiteSpace(fileName[^1]))
        {
            error = "the name starts or ends with whitespace";
            return false;
        }

        var dot = fileName.LastIndexOf('.');
        var digits = dot < 0 ? ReadOnlySpan<char>.Empty : fileName.AsSpan(dot + 1);
        if (dot <= 0 || digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9'))
        {
            error = "a binlog file name ends with '.' and a sequence number, such as 'mysql-bin.000123'";
            return false;
        }

        foreach (var c in digits)
        {
            var digit = (ulong)(c - '0');
            if (sequence > (ulong.MaxValue - digit) / 10)
            {
                error = "the sequence number suffix is too large";
                return false;
            }

            sequence = (sequence * 10) + digit;
        }

        baseLength = dot;
        error = null;
        return true;
    }

    private static bool TryParseCore(string text, [NotNullWhen(true)] out BinlogPosition? result, [NotNullWhen(false)] out string? error)
    {
        result = null;
        var span = text.AsSpan().Trim();
        var colon = span.LastIndexOf(':');
        if (colon < 0)
        {
            error = "there is no ':' between the file name and the position";
            return false;
        }

        var positionText = span[(colon + 1)..];
        if (positionText.IsEmpty
            || positionText.ContainsAnyExceptInRange('0', '9')
            || !ulong.TryParse(positionText, NumberStyles.None, CultureInfo.InvariantCulture, out var position))
        {
            error = $"the position '{positionText}' is not a decimal number from 0 to {ulong.MaxValue}";
            return false;
        }

        var fileName = span[..colon].ToString();
        if (!TryValidateFileName(fileName, out var baseLength, out var sequence, out error))
        {
            return false;
        }

        result = new BinlogPosition(fileName, position, baseLength, sequence);
        return true;
    }

    private BinlogPosition(string fileName, ulong position, int baseLength, ulong sequence)
    {
        FileName = fileName;
        Position = position;
        BaseName = fileName[..baseLength];
        FileSequence = sequence;
    }
}
