using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Cdc.Checkpoint.Hosting;

/// <summary>
/// The one way every registration of the hosting packages (and of a provider's hosting package built on them) binds,
/// configures and validates its named options: bound from configuration, then configured in code, validated when the
/// host starts, with messages that name the real configuration keys (<see cref="ConfigurationKeys"/>).
/// </summary>
public static class ValidatedOptions
{
    /// <summary>
    /// Registers the options named <paramref name="name"/>: bound from <paramref name="configuration"/> (when given),
    /// then <paramref name="configure"/>, validated by <typeparamref name="TValidator"/> when the host starts, with the
    /// section path remembered so that messages name the real configuration keys.
    /// </summary>
    /// <typeparam name="TOptions">The options type.</typeparam>
    /// <typeparam name="TValidator">Its validator, created by the container (it may take <c>IEnumerable&lt;ConfigurationKeys&gt;</c>).</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The options name (the registration's name).</param>
    /// <param name="configuration">The section to bind, or <see langword="null"/> when configured in code only.</param>
    /// <param name="configure">Configuration in code, applied after binding; may be <see langword="null"/>.</param>
    /// <param name="bind">
    /// Binds the section, written at the caller as <c>static (builder, section) =&gt; builder.Bind(section)</c> so that the
    /// configuration binding source generator sees the options type (AOT- and trim-safe).
    /// </param>
    public static void Add<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(IServiceCollection services, string name, IConfiguration? configuration, Action<TOptions>? configure, Action<OptionsBuilder<TOptions>, IConfiguration> bind)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(bind);
        var builder = services.AddOptions<TOptions>(name);
        if (configuration is not null)
        {
            bind(builder, configuration);
        }

        if (configure is not null)
        {
            builder.Configure(configure);
        }

        builder.ValidateOnStart();
        services.AddSingleton(new ConfigurationKeys(typeof(TOptions), name, (configuration as IConfigurationSection)?.Path));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
    }
}
