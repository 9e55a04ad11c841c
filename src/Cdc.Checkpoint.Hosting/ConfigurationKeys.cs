namespace Cdc.Checkpoint.Hosting;

/// <summary>Where the options of one named registration were bound from, so validation messages name the real key.</summary>
/// <param name="OptionsType">The options type.</param>
/// <param name="Name">The options name.</param>
/// <param name="SectionPath">The configuration section path, or <see langword="null"/> when configured in code.</param>
internal sealed record ConfigurationKeys(Type OptionsType, string Name, string? SectionPath)
{
    public static ConfigurationKeys For<TOptions>(IEnumerable<ConfigurationKeys> all, string? name) =>
        all.LastOrDefault(k => k.OptionsType == typeof(TOptions) && string.Equals(k.Name, name, StringComparison.Ordinal))
        ?? new ConfigurationKeys(typeof(TOptions), name ?? string.Empty, null);

    /// <summary>The key of <paramref name="property"/>: <c>'Section:Property'</c>, or the option name when configured in code.</summary>
    public string Of(string property) =>
        SectionPath is { Length: > 0 } path ? $"configuration key '{path}:{property}'" : $"option {OptionsType.Name}.{property}";
}
