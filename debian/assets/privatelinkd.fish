# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_privatelinkd_global_optspecs
    string join \n log-format= h/help V/version
end

function __fish_privatelinkd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_privatelinkd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_privatelinkd_using_subcommand
    set -l cmd (__fish_privatelinkd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -s V -l version -d 'Print version'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "validate" -d 'Check endpoint files (and the daemon config) and report every problem with its place'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "schema" -d 'Print a JSON Schema (draft 2020-12): of an endpoint document (the default), or of `plan --output json`'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "run" -d 'Run the daemon: keep the cloud equal to the endpoint files'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "plan" -d 'Show what the daemon will do to reach the files (create, update, replace, delete), without changing anything'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "status" -d 'Show every endpoint\'s phase from the status files'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "import" -d 'Write a document for each endpoint that already exists (made by hand, or by Terraform), adopting it as it is; report what does not match'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "approve-deletions" -d 'Release what the running daemon\'s guards hold back now: deletions (the mass-deletion guard) and re-creations (the creation guard)'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "approve" -d 'Release what the running daemon\'s guards hold back now: deletions (the mass-deletion guard) and re-creations (the creation guard)'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "state" -d 'What the ledger holds: `state list`, `state show NAME`, `state forget NAME`'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "retry" -d 'Ask the running daemon to try Failed endpoints again now'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "man" -d 'Print the manual page (roff), generated from this command line'
complete -c privatelinkd -n "__fish_privatelinkd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand validate" -l config -d 'Also check this daemon config file (and the simulated world it names)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand validate" -l output -d 'How to print problems: `text` (PATH:LINE:COL: error: MESSAGE on stderr) or `json`' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand validate" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand validate" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand schema" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -l config -d 'The daemon config file' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -l reown-from -d 'Take over the endpoints of another ownerId (after `ownerId` was changed on purpose): their owner tag is rewritten to this daemon\'s' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -l once -d 'Do one full pass and exit (0 if nothing failed)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -l allow-mass-delete -d 'Carry out deletions even when the mass-deletion guard would hold them back'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand run" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l config -d 'The daemon config file' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l output -r -f -a "text\t''
json\t'The documented format (`examples/plan.schema.json`)'
markdown\t'A summary and a table, for a pull-request comment'"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l name -d 'Only this endpoint (repeatable)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l file -d 'Only the endpoints of this file, relative to the endpoints directory (repeatable)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l from -d 'Plan against a running daemon\'s latest observation (its `metrics.listen`, e.g. http://127.0.0.1:9464) instead of asking the clouds: no API budget spent' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l detailed-exitcode -d 'Exit 0 when nothing changes, 2 when changes are pending, 1 on error (Terraform\'s convention)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -l all -d 'List unchanged endpoints too'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand status" -l config -d 'The daemon config file' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand status" -l output -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand status" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand status" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l config -d 'The daemon config file (its TiDB Cloud key, clouds, accounts and ownerId)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l out -d 'Where to write the documents; the config\'s endpoints directory by default' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l output -r -f -a "yaml\t'The documents as one YAML stream (each after a `# file:` line), findings as comments'
json\t'The report (documents, skipped, unmatched) as JSON'
markdown\t'A summary and tables, for a pull request'"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l project -d 'A TiDB Cloud project to list the clusters of (repeatable); the API key\'s default project when absent' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l gcp-project -d 'A Google Cloud project to look for Private Service Connect endpoints in (repeatable)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l azure-subscription -d 'An Azure subscription to look for private endpoints in (repeatable)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l deletion-policy -d 'What removing an imported document will do: `orphan` leaves the endpoint in place (the default: nothing made by hand is deleted by a removed file), `delete` deletes it' -r -f -a "delete\t''
orphan\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l from -d 'A running daemon (its `metrics.listen`, e.g. http://127.0.0.1:9464): what it manages is skipped as managed, by what it saw in its latest pass' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l from-terraform-state -d 'Read a Terraform state (format version 4, or `terraform show -json`) instead of listing the clouds: its `aws_vpc_endpoint`s joined with their `tidbcloud_dedicated_private_endpoint_connection`s' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -l dry-run -d 'Write nothing; print what would be written'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve-deletions" -l config -d 'The daemon config file (the running daemon is reached on its `metrics.listen`)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve-deletions" -l digest -d 'Approve only if the held-back set still has this digest (as the daemon\'s log and the held endpoints\' status say)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve-deletions" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve-deletions" -l list -d 'Show what is held back; approve nothing'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve-deletions" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve" -l config -d 'The daemon config file (the running daemon is reached on its `metrics.listen`)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve" -l digest -d 'Approve only if the held-back set still has this digest (as the daemon\'s log and the held endpoints\' status say)' -r
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve" -l list -d 'Show what is held back; approve nothing'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand approve" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -l config -d 'The daemon config file (where the ledger is: stateDir, or the lease table of a group)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -l output -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -f -a "list" -d 'Every document the ledger holds, with its endpoints and connections'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -f -a "show" -d 'One document\'s entry in full'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -f -a "forget" -d 'Remove one document\'s entry; the cloud is not touched. While the endpoint still carries the owner tags, the daemon finds it again by them: to release an endpoint, use `deletionPolicy: Orphan` and remove the document instead'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and not __fish_seen_subcommand_from list show forget help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from list" -l config -d 'The daemon config file (where the ledger is: stateDir, or the lease table of a group)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from list" -l output -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from list" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from show" -l config -d 'The daemon config file (where the ledger is: stateDir, or the lease table of a group)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from show" -l output -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from show" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from forget" -l config -d 'The daemon config file (where the ledger is: stateDir, or the lease table of a group)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from forget" -l output -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from forget" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every document the ledger holds, with its endpoints and connections'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "show" -d 'One document\'s entry in full'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "forget" -d 'Remove one document\'s entry; the cloud is not touched. While the endpoint still carries the owner tags, the daemon finds it again by them: to release an endpoint, use `deletionPolicy: Orphan` and remove the document instead'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand retry" -l config -d 'The daemon config file (the running daemon is reached on its `metrics.listen`)' -r -F
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand retry" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand retry" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand completions" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand completions" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand man" -l log-format -d 'Log line format on stderr' -r -f -a "text\t''
json\t''"
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand man" -s h -l help -d 'Print help'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "validate" -d 'Check endpoint files (and the daemon config) and report every problem with its place'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "schema" -d 'Print a JSON Schema (draft 2020-12): of an endpoint document (the default), or of `plan --output json`'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "run" -d 'Run the daemon: keep the cloud equal to the endpoint files'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "plan" -d 'Show what the daemon will do to reach the files (create, update, replace, delete), without changing anything'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "status" -d 'Show every endpoint\'s phase from the status files'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "import" -d 'Write a document for each endpoint that already exists (made by hand, or by Terraform), adopting it as it is; report what does not match'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "approve-deletions" -d 'Release what the running daemon\'s guards hold back now: deletions (the mass-deletion guard) and re-creations (the creation guard)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "state" -d 'What the ledger holds: `state list`, `state show NAME`, `state forget NAME`'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "retry" -d 'Ask the running daemon to try Failed endpoints again now'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "man" -d 'Print the manual page (roff), generated from this command line'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and not __fish_seen_subcommand_from validate schema run plan status import approve-deletions state retry completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "list" -d 'Every document the ledger holds, with its endpoints and connections'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "show" -d 'One document\'s entry in full'
complete -c privatelinkd -n "__fish_privatelinkd_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "forget" -d 'Remove one document\'s entry; the cloud is not touched. While the endpoint still carries the owner tags, the daemon finds it again by them: to release an endpoint, use `deletionPolicy: Orphan` and remove the document instead'
