namespace Cdc.Checkpoint.Hosting;

/// <summary>
/// Where the options of one named registration were bound from, so that validation messages name the key an operator
/// edits (<c>configuration key 'Cdc:Consumers:orders:SlotName'</c>) or, for options set in code, the property
/// (<c>option PostgresReplicationConsumerOptions.SlotName</c>). <see cref="ValidatedOptions.Add"/> registers one per
/// registration; an <see cref="Microsoft.Extensions.Options.IValidateOptions{TOptions}"/> receives them all as an
/// <see cref="IEnumerable{T}"/> from the container and picks its own with <see cref="For{TOptions}"/>.
/// </summary>
public sealed class ConfigurationKeys
{
    internal ConfigurationKeys(Type optionsType, string name, string? sectionPath)
    {
        OptionsType = optionsType;
        Name = name;
        SectionPath = sectionPath;
    }

    /// <summary>The options type.</summary>
    public Type OptionsType { get; }

    /// <summary>The options name (the registration's name).</summary>
    public string Name { get; }

    /// <summary>The configuration section path, or <see langword="null"/> when the options were configured in code.</summary>
    public string? SectionPath { get; }

    /// <summary>The keys of the <typeparamref name="TOptions"/> named <paramref name="name"/> among <paramref name="all"/>.</summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <param name="all">Every registration's keys, as the container injects them.</param>
    /// <param name="name">The options name.</param>
    /// <returns>The keys of the last matching registration, or keys that name properties when there is none (configured in code).</returns>
    public static ConfigurationKeys For<TOptions>(IEnumerable<ConfigurationKeys> all, string? name)
    {
        ArgumentNullException.ThrowIfNull(all);
        return all.LastOrDefault(k => k.OptionsType == typeof(TOptions) && string.Equals(k.Name, name, StringComparison.Ordinal))
            ?? new ConfigurationKeys(typeof(TOptions), name ?? string.Empty, null);
    }

    /// <summary>The key of <paramref name="property"/>: <c>configuration key 'Section:Property'</c>, or <c>option Type.Property</c> when configured in code.</summary>
    /// <param name="property">The property path below the section, for example <c>Retry:MaxDelay</c>.</param>
    /// <returns>The text to put in a validation message.</returns>
    public string Of(string property) =>
        SectionPath is { Length: > 0 } path ? $"configuration key '{path}:{property}'" : $"option {OptionsType.Name}.{property}";
}
