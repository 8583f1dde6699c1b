# balcony's noop guard, loaded through RUBYOPT into the `puppet apply
# --noop` of a review (pkg/puppet/guard.go says why). It sets noop on every
# resource of the compiled catalog just before Puppet applies it, so that
# `noop => false` cannot beat --noop, and writes how many resources it
# forced to the file BALCONY_FORCE_NOOP names. With BALCONY_FORCE_NOOP_PROBE
# it only says that it was loaded. Either way it removes its variables and
# RUBYOPT from the environment first, so that nothing Puppet starts loads it.
out = ENV.delete('BALCONY_FORCE_NOOP')
probe = ENV.delete('BALCONY_FORCE_NOOP_PROBE')
ENV.delete('RUBYOPT')
if probe
  File.write(probe, "loaded\n")
elsif out
  begin
    require 'puppet'
    require 'puppet/application/apply'
    apply = Puppet::Application::Apply
    unless apply.private_method_defined?(:apply_catalog) || apply.method_defined?(:apply_catalog)
      raise 'Puppet::Application::Apply has no apply_catalog'
    end
    apply.prepend(Module.new do
      define_method(:apply_catalog) do |catalog|
        forced = 0
        catalog.resources.each do |resource|
          resource[:noop] = true
          forced += 1
        end
        File.write(out, "#{forced}\n")
        super(catalog)
      end
    end)
  rescue Exception => e # rubocop:disable Lint/RescueException
    warn "Error: balcony cannot force noop on this Puppet: #{e.message}"
    exit!(70)
  end
end
