# site.pp: defaults and the default node.
# node 'commented.example.com' { }  (a comment, not a statement)
/* node 'block-comment.example.com' { } */

File { backup => false }

$banner = "node 'in-a-string.example.com' { }"
$notes = @("END"/L)
  node 'in-a-heredoc.example.com' { }
  | END

exec { 'node-attribute':
  command => '/bin/true',
  node    => 'not-a-node.example.com',
}

node default {
  include base
}
