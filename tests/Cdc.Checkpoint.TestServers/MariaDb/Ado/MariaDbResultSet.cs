using System.Globalization;
using System.Text;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>One result set, fully read into memory (<c>mysql_store_result</c>): values are the text protocol's bytes.</summary>
internal sealed class MariaDbResultSet(MariaDbColumn[] columns, List<byte[]?[]> rows)
{
    public MariaDbColumn[] Columns { get; } = columns;

    public List<byte[]?[]> Rows { get; } = rows;
}

/// <summary>
/// A result column. Values map to CLR types the way MySqlConnector maps them by default: integers by size and
/// signedness (TINYINT(1) is <see cref="bool"/>), DECIMAL → <see cref="decimal"/>, DATETIME → <see cref="DateTime"/>,
/// TIME → <see cref="TimeSpan"/>, BIT → <see cref="ulong"/>, columns in the binary character set → <c>byte[]</c>,
/// other strings → <see cref="string"/>.
/// </summary>
internal sealed class MariaDbColumn(string name, MariaDbFieldType type, uint flags, uint charsetNumber, long length)
{
    private static readonly string[] DateTimeFormats =
    [
        "yyyy'-'MM'-'dd' 'HH':'mm':'ss'.'FFFFFF", "yyyy'-'MM'-'dd' 'HH':'mm':'ss", "yyyy'-'MM'-'dd",
    ];

    public string Name { get; } = name;

    public MariaDbFieldType Type { get; } = type;

    public bool IsUnsigned => (flags & MariaDbNative.UNSIGNED_FLAG) != 0;

    public bool IsBinary => charsetNumber == MariaDbNative.BinaryCharsetNumber;

    public System.Type ClrType => Type switch
    {
        MariaDbFieldType.Tiny when length == 1 && !IsUnsigned => typeof(bool),
        MariaDbFieldType.Tiny => IsUnsigned ? typeof(byte) : typeof(sbyte),
        MariaDbFieldType.Short => IsUnsigned ? typeof(ushort) : typeof(short),
        MariaDbFieldType.Int24 or MariaDbFieldType.Long => IsUnsigned ? typeof(uint) : typeof(int),
        MariaDbFieldType.LongLong => IsUnsigned ? typeof(ulong) : typeof(long),
        MariaDbFieldType.Year => typeof(int),
        MariaDbFieldType.Float => typeof(float),
        MariaDbFieldType.Double => typeof(double),
        MariaDbFieldType.Decimal or MariaDbFieldType.NewDecimal => typeof(decimal),
        MariaDbFieldType.Bit => typeof(ulong),
        MariaDbFieldType.Date or MariaDbFieldType.NewDate or MariaDbFieldType.DateTime or MariaDbFieldType.DateTime2
            or MariaDbFieldType.Timestamp or MariaDbFieldType.Timestamp2 => typeof(DateTime),
        MariaDbFieldType.Time or MariaDbFieldType.Time2 => typeof(TimeSpan),
        MariaDbFieldType.Null => typeof(object),
        MariaDbFieldType.Geometry => typeof(byte[]),
        _ => IsBinary ? typeof(byte[]) : typeof(string),
    };

    public string DataTypeName => Type switch
    {
        MariaDbFieldType.Tiny when length == 1 && !IsUnsigned => "BOOL",
        MariaDbFieldType.Tiny => "TINYINT",
        MariaDbFieldType.Short => "SMALLINT",
        MariaDbFieldType.Int24 => "MEDIUMINT",
        MariaDbFieldType.Long => "INT",
        MariaDbFieldType.LongLong => "BIGINT",
        MariaDbFieldType.Year => "YEAR",
        MariaDbFieldType.Float => "FLOAT",
        MariaDbFieldType.Double => "DOUBLE",
        MariaDbFieldType.Decimal or MariaDbFieldType.NewDecimal => "DECIMAL",
        MariaDbFieldType.Bit => "BIT",
        MariaDbFieldType.Date or MariaDbFieldType.NewDate => "DATE",
        MariaDbFieldType.DateTime or MariaDbFieldType.DateTime2 => "DATETIME",
        MariaDbFieldType.Timestamp or MariaDbFieldType.Timestamp2 => "TIMESTAMP",
        MariaDbFieldType.Time or MariaDbFieldType.Time2 => "TIME",
        MariaDbFieldType.Null => "NULL",
        MariaDbFieldType.Json => "JSON",
        MariaDbFieldType.Enum => "ENUM",
        MariaDbFieldType.Set => "SET",
        MariaDbFieldType.Geometry => "GEOMETRY",
        MariaDbFieldType.TinyBlob or MariaDbFieldType.MediumBlob or MariaDbFieldType.LongBlob or MariaDbFieldType.Blob =>
            IsBinary ? "BLOB" : "TEXT",
        MariaDbFieldType.VarChar or MariaDbFieldType.VarString => IsBinary ? "VARBINARY" : "VARCHAR",
        MariaDbFieldType.String => IsBinary ? "BINARY" : "CHAR",
        _ => "UNKNOWN(" + ((int)Type).ToString(CultureInfo.InvariantCulture) + ")",
    };

    /// <summary>The value as <see cref="ClrType"/>; the bytes must not be <see langword="null"/>.</summary>
    public object ToClrValue(byte[] raw)
    {
        var clrType = ClrType;
        if (clrType == typeof(byte[]))
        {
            return raw.Clone();
        }

        if (clrType == typeof(string))
        {
            return Encoding.UTF8.GetString(raw);
        }

        if (Type == MariaDbFieldType.Bit)
        {
            ulong bits = 0;
            foreach (var b in raw)
            {
                bits = (bits << 8) | b;
            }

            return bits;
        }

        var text = Encoding.ASCII.GetString(raw);
        try
        {
            return Type switch
            {
                MariaDbFieldType.Tiny when clrType == typeof(bool) => text != "0",
                _ when clrType == typeof(byte) => byte.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(sbyte) => sbyte.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(ushort) => ushort.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(short) => short.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(uint) => uint.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(int) => int.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(ulong) => ulong.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(long) => long.Parse(text, CultureInfo.InvariantCulture),
                _ when clrType == typeof(float) => float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
                _ when clrType == typeof(double) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
                _ when clrType == typeof(decimal) => decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
                _ when clrType == typeof(DateTime) => ParseDateTime(text),
                _ when clrType == typeof(TimeSpan) => ParseTime(text),
                _ => text,
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new InvalidCastException($"Column '{Name}' ({DataTypeName}) holds '{text}', which is not a valid {clrType.Name}.", e);
        }
    }

    private DateTime ParseDateTime(string text)
    {
        if (DateTime.TryParseExact(text, DateTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var value))
        {
            return value;
        }

        // MySqlConnector without ConvertZeroDateTime throws the same way for 0000-00-00.
        throw new InvalidCastException($"Column '{Name}' holds '{text}', which cannot be converted to System.DateTime.");
    }

    private static TimeSpan ParseTime(string text)
    {
        // [-]H+:MM:SS[.ffffff]; hours may exceed 23 (TIME ranges over ±838 hours).
        var negative = text.StartsWith('-');
        var parts = (negative ? text[1..] : text).Split(':');
        if (parts.Length != 3)
        {
            throw new FormatException($"'{text}' is not a TIME value.");
        }

        var hours = int.Parse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture);
        var minutes = int.Parse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture);
        var secondsText = parts[2].Split('.');
        var seconds = int.Parse(secondsText[0], NumberStyles.None, CultureInfo.InvariantCulture);
        long ticks = 0;
        if (secondsText.Length == 2)
        {
            var fraction = secondsText[1].PadRight(7, '0')[..7];
            ticks = long.Parse(fraction, NumberStyles.None, CultureInfo.InvariantCulture);
        }

        var span = new TimeSpan(0, hours, minutes, seconds) + TimeSpan.FromTicks(ticks);
        return negative ? -span : span;
    }
}

/// <summary><c>enum enum_field_types</c> (mariadb_com.h).</summary>
internal enum MariaDbFieldType
{
    Decimal = 0, Tiny = 1, Short = 2, Long = 3, Float = 4, Double = 5, Null = 6, Timestamp = 7, LongLong = 8, Int24 = 9,
    Date = 10, Time = 11, DateTime = 12, Year = 13, NewDate = 14, VarChar = 15, Bit = 16, Timestamp2 = 17,
    DateTime2 = 18, Time2 = 19, Json = 245, NewDecimal = 246, Enum = 247, Set = 248, TinyBlob = 249,
    MediumBlob = 250, LongBlob = 251, Blob = 252, VarString = 253, String = 254, Geometry = 255,
}
