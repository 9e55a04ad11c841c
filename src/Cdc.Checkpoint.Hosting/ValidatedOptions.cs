using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Cdc.Checkpoint.Hosting;

/// <summary>The one way every registration of the hosting packages binds, configures and validates its named options.</summary>
internal static class ValidatedOptions
{
    /// <summary>
    /// Registers the options named <paramref name="name"/>: bound from <paramref name="configuration"/> (when given),
    /// then <paramref name="configure"/>, validated by <typeparamref name="TValidator"/> when the host starts, with the
    /// section path remembered so that messages name the real configuration keys.
    /// </summary>
    public static void Add<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TValidator>(IServiceCollection services, string name, IConfiguration? configuration, Action<TOptions>? configure, Action<OptionsBuilder<TOptions>, IConfiguration> bind)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
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
