using System.Collections;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;

namespace Cdc.Checkpoint.TestServers.MariaDb.Ado;

/// <summary>
/// The parameters of a <see cref="MariaDbTestCommand"/>. Names are matched without their <c>@</c>/<c>?</c> prefix and
/// case-insensitively; adding a second parameter with the same name throws, as MySqlConnector does.
/// </summary>
[SuppressMessage("Design", "CA1010", Justification = "The ADO.NET base class defines the non-generic shape; like other providers we keep it.")]
public sealed class MariaDbTestParameterCollection : DbParameterCollection
{
    private readonly List<MariaDbTestParameter> _items = [];

    /// <inheritdoc />
    public override int Count => _items.Count;

    /// <inheritdoc />
    public override object SyncRoot => ((ICollection)_items).SyncRoot;

    /// <summary>Gets the parameter at <paramref name="index"/>.</summary>
    public new MariaDbTestParameter this[int index]
    {
        get => _items[index];
        set => SetParameter(index, value);
    }

    /// <summary>Gets the parameter named <paramref name="parameterName"/>.</summary>
    public new MariaDbTestParameter this[string parameterName]
    {
        get => (MariaDbTestParameter)GetParameter(parameterName);
        set => SetParameter(parameterName, value);
    }

    /// <summary>Adds <paramref name="parameter"/> and returns it.</summary>
    public MariaDbTestParameter Add(MariaDbTestParameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        EnsureUnique(parameter.NormalizedName, -1);
        _items.Add(parameter);
        return parameter;
    }

    /// <summary>Adds a parameter named <paramref name="parameterName"/> with <paramref name="value"/>.</summary>
    public MariaDbTestParameter AddWithValue(string parameterName, object? value) =>
        Add(new MariaDbTestParameter(parameterName, value));

    /// <inheritdoc />
    public override int Add(object value)
    {
        Add(Cast(value));
        return _items.Count - 1;
    }

    /// <inheritdoc />
    public override void AddRange(Array values)
    {
        ArgumentNullException.ThrowIfNull(values);
        foreach (var value in values)
        {
            Add(value!);
        }
    }

    /// <inheritdoc />
    public override void Clear() => _items.Clear();

    /// <inheritdoc />
    public override bool Contains(object value) => value is MariaDbTestParameter p && _items.Contains(p);

    /// <inheritdoc />
    public override bool Contains(string value) => IndexOf(value) >= 0;

    /// <inheritdoc />
    public override void CopyTo(Array array, int index) => ((ICollection)_items).CopyTo(array, index);

    /// <inheritdoc />
    public override IEnumerator GetEnumerator() => _items.GetEnumerator();

    /// <inheritdoc />
    public override int IndexOf(object value) => value is MariaDbTestParameter p ? _items.IndexOf(p) : -1;

    /// <inheritdoc />
    public override int IndexOf(string parameterName)
    {
        var name = MariaDbTestParameter.NormalizeName(parameterName ?? string.Empty);
        return _items.FindIndex(p => string.Equals(p.NormalizedName, name, StringComparison.OrdinalIgnoreCase));
    }

    /// <inheritdoc />
    public override void Insert(int index, object value)
    {
        var parameter = Cast(value);
        EnsureUnique(parameter.NormalizedName, -1);
        _items.Insert(index, parameter);
    }

    /// <inheritdoc />
    public override void Remove(object value) => _items.Remove(Cast(value));

    /// <inheritdoc />
    public override void RemoveAt(int index) => _items.RemoveAt(index);

    /// <inheritdoc />
    public override void RemoveAt(string parameterName) => _items.RemoveAt(IndexOfExisting(parameterName));

    /// <inheritdoc />
    protected override DbParameter GetParameter(int index) => _items[index];

    /// <inheritdoc />
    protected override DbParameter GetParameter(string parameterName) => _items[IndexOfExisting(parameterName)];

    /// <inheritdoc />
    protected override void SetParameter(int index, DbParameter value)
    {
        var parameter = Cast(value);
        EnsureUnique(parameter.NormalizedName, index);
        _items[index] = parameter;
    }

    /// <inheritdoc />
    protected override void SetParameter(string parameterName, DbParameter value) =>
        SetParameter(IndexOfExisting(parameterName), value);

    private int IndexOfExisting(string parameterName)
    {
        var index = IndexOf(parameterName);
        return index >= 0
            ? index
            : throw new ArgumentException($"Parameter '{parameterName}' was not found in the collection.", nameof(parameterName));
    }

    private void EnsureUnique(string normalizedName, int replacing)
    {
        var existing = IndexOf(normalizedName);
        if (normalizedName.Length > 0 && existing >= 0 && existing != replacing)
        {
            throw new ArgumentException($"Parameter '{normalizedName}' has already been defined.", nameof(normalizedName));
        }
    }

    private static MariaDbTestParameter Cast(object value) => value as MariaDbTestParameter
        ?? throw new ArgumentException(
            $"Expected a {nameof(MariaDbTestParameter)}, got {value?.GetType().FullName ?? "null"}.", nameof(value));
}
