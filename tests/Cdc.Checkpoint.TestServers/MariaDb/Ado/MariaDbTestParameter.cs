using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// A command parameter. Only <see cref="ParameterDirection.Input"/> is supported; the value is sent as an SQL literal
/// (see <see cref="MariaDbTestCommand"/>), formatted from its CLR type. <see cref="DbType"/> is informational only.
/// </summary>
public sealed class MariaDbTestParameter : DbParameter
{
    private DbType? _dbType;
    private string _parameterName = string.Empty;
    private string _sourceColumn = string.Empty;

    /// <summary>Creates an unnamed parameter with no value.</summary>
    public MariaDbTestParameter()
    {
    }

    /// <summary>Creates a parameter.</summary>
    /// <param name="parameterName">The name, with or without the leading <c>@</c>.</param>
    /// <param name="value">The value; <see langword="null"/> or <see cref="DBNull"/> is sent as <c>NULL</c>.</param>
    public MariaDbTestParameter(string parameterName, object? value)
    {
        ParameterName = parameterName;
        Value = value;
    }

    /// <inheritdoc />
    public override DbType DbType
    {
        get => _dbType ?? InferDbType(Value);
        set => _dbType = value;
    }

    /// <inheritdoc />
    public override ParameterDirection Direction { get; set; } = ParameterDirection.Input;

    /// <inheritdoc />
    public override bool IsNullable { get; set; }

    /// <inheritdoc />
    [AllowNull]
    public override string ParameterName
    {
        get => _parameterName;
        set => _parameterName = value ?? string.Empty;
    }

    /// <inheritdoc />
    [AllowNull]
    public override string SourceColumn
    {
        get => _sourceColumn;
        set => _sourceColumn = value ?? string.Empty;
    }

    /// <inheritdoc />
    public override bool SourceColumnNullMapping { get; set; }

    /// <inheritdoc />
    public override object? Value { get; set; }

    /// <inheritdoc />
    public override int Size { get; set; }

    /// <summary>The name without its <c>@</c> or <c>?</c> prefix; names compare case-insensitively.</summary>
    internal string NormalizedName => NormalizeName(_parameterName);

    /// <inheritdoc />
    public override void ResetDbType() => _dbType = null;

    internal static string NormalizeName(string name) =>
        name.Length > 0 && (name[0] == '@' || name[0] == '?') ? name[1..] : name;

    private static DbType InferDbType(object? value) => value switch
    {
        null or DBNull => DbType.Object,
        string or char => DbType.String,
        bool => DbType.Boolean,
        sbyte => DbType.SByte,
        byte => DbType.Byte,
        short => DbType.Int16,
        ushort => DbType.UInt16,
        int => DbType.Int32,
        uint => DbType.UInt32,
        long => DbType.Int64,
        ulong => DbType.UInt64,
        float => DbType.Single,
        double => DbType.Double,
        decimal => DbType.Decimal,
        byte[] or ReadOnlyMemory<byte> or Memory<byte> or ArraySegment<byte> => DbType.Binary,
        DateTime => DbType.DateTime,
        DateTimeOffset => DbType.DateTimeOffset,
        DateOnly => DbType.Date,
        TimeOnly or TimeSpan => DbType.Time,
        Guid => DbType.Guid,
        _ => DbType.Object,
    };
}
