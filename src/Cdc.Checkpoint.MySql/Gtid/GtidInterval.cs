using System.Globalization;

namespace Cdc.Checkpoint.MySql.Gtid;

/// <summary>
/// A closed range of MySQL transaction numbers (GNOs) <c>First..Last</c>, as printed in a GTID set (<c>1-5</c>, or
/// <c>7</c> for a single transaction).
/// </summary>
/// <remarks>Immutable and thread-safe. The default value is not a valid interval; create intervals with the constructor.</remarks>
public readonly struct GtidInterval : IEquatable<GtidInterval>
{
    /// <summary>Creates the interval <paramref name="first"/>..<paramref name="last"/>.</summary>
    /// <param name="first">The first transaction number, 1..<see cref="GtidSet.MaxTransactionNumber"/>.</param>
    /// <param name="last">The last transaction number, <paramref name="first"/>..<see cref="GtidSet.MaxTransactionNumber"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A number is outside the GNO range, or <paramref name="last"/> is below <paramref name="first"/>.</exception>
    public GtidInterval(long first, long last)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(first, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(last, GtidSet.MaxTransactionNumber);
        ArgumentOutOfRangeException.ThrowIfLessThan(last, first);
        First = first;
        Last = last;
    }

    /// <summary>The first transaction number in the interval.</summary>
    public long First { get; }

    /// <summary>The last transaction number in the interval (inclusive).</summary>
    public long Last { get; }

    /// <summary>How many transactions the interval holds.</summary>
    public ulong Count => (ulong)(Last - First) + 1;

    /// <summary>Whether <paramref name="transactionNumber"/> lies in the interval.</summary>
    /// <param name="transactionNumber">A transaction number.</param>
    /// <returns><see langword="true"/> when <c>First &lt;= transactionNumber &lt;= Last</c>.</returns>
    public bool Contains(long transactionNumber) => transactionNumber >= First && transactionNumber <= Last;

    /// <inheritdoc />
    public bool Equals(GtidInterval other) => First == other.First && Last == other.Last;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GtidInterval other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(First, Last);

    /// <summary>The interval as MySQL prints it: <c>First-Last</c>, or <c>First</c> alone for one transaction.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() =>
        First == Last
            ? First.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{First}-{Last}");

    /// <summary>Equality of both ends.</summary>
    public static bool operator ==(GtidInterval left, GtidInterval right) => left.Equals(right);

    /// <summary>Inequality of either end.</summary>
    public static bool operator !=(GtidInterval left, GtidInterval right) => !left.Equals(right);
}
