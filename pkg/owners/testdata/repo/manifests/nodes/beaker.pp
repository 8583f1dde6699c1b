# Sorted before web.pp, so its regex is tried first: web90 lands here.
node /^web9\d/, 'beaker.example.com' {
  include lab
}
